"""Every script in the repo answers --help with exit status 0 and follows the naming rule."""
from __future__ import annotations

import re

import pytest

from conftest import REPO_ROOT, run_script

SCRIPT_FOLDERS = ["datasets_preprocess", "dlcr", "opengait", "opengait_ccvid", "benchmarks"]


def find_scripts() -> list[str]:
    scripts = []
    for folder in SCRIPT_FOLDERS:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8"):
                scripts.append(str(path.relative_to(REPO_ROOT)))
    return scripts


SCRIPTS = find_scripts()


def test_scripts_are_found():
    assert "datasets_preprocess/validate_pretreated.py" in SCRIPTS


def options_without_help(help_text: str) -> list[str]:
    """Options of an argparse --help text that have no help line (argparse prints the option
    alone, and the next line is another option or the end)."""
    lines = help_text.split("options:", 1)[-1].split("\n")
    missing = []
    for i, line in enumerate(lines):
        entry = line.strip()
        if not line.startswith("  -") or entry.startswith("-h") or "  " in entry:
            continue                                    # not an option, or help on the same line
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not following.startswith(" " * 6) or following.strip().startswith("-"):
            missing.append(entry)
    return missing


def test_options_without_help_are_found():
    text = "options:\n  -h, --help  show\n  --a A       has help\n  --bare B\n  --long-option LONG\n        help below\n  --last\n"
    assert options_without_help(text) == ["--bare B", "--last"]


@pytest.mark.slow
@pytest.mark.parametrize("script_path", SCRIPTS)
def test_help_exits_zero(script_path):
    result = run_script(script_path, "--help", timeout=120, env={"COLUMNS": "100"})
    assert "usage:" in result.stdout
    assert options_without_help(result.stdout) == [], "options without help text"


@pytest.mark.parametrize("script_path", SCRIPTS)
def test_script_names_are_verb_object(script_path):
    name = script_path.rsplit("/", 1)[-1]
    assert name == "main.py" or re.fullmatch(r"[a-z0-9]+(_[a-z0-9+]+)+\.py", name), name
