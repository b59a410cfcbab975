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


@pytest.mark.parametrize("script_path", SCRIPTS)
def test_help_exits_zero(script_path):
    result = run_script(script_path, "--help", timeout=120)
    assert "usage:" in result.stdout


@pytest.mark.parametrize("script_path", SCRIPTS)
def test_script_names_are_verb_object(script_path):
    name = script_path.rsplit("/", 1)[-1]
    assert name == "main.py" or re.fullmatch(r"[a-z0-9]+(_[a-z0-9+]+)+\.py", name), name
