"""Every script in the repo answers --help with exit status 0 and follows the naming rule."""
from __future__ import annotations

import re

import pytest

from conftest import find_scripts, help_texts

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
    result = help_texts(100)[script_path]               # all scripts' --help, in one child process
    assert result["code"] == 0, result["stderr"][-3000:]
    assert "usage:" in result["stdout"]
    assert options_without_help(result["stdout"]) == [], "options without help text"


@pytest.mark.parametrize("script_path", SCRIPTS)
def test_script_names_are_verb_object(script_path):
    name = script_path.rsplit("/", 1)[-1]
    assert name == "main.py" or re.fullmatch(r"[a-z0-9]+(_[a-z0-9+]+)+\.py", name), name
