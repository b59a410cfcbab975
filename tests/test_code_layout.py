"""Imports between the top-level packages run one way: gaitcore (the shared core: the pretreated
format, safe loading, atomic files, the CLI runner, image/video/pose I/O) imports nothing of
ours; datasets_preprocess, dlcr and opengait import only the core, never each other;
opengait_ccvid (a plugin of the trainer) imports the core and opengait."""
from __future__ import annotations

import ast

from conftest import REPO_ROOT

ALLOWED = {"gaitcore": set(), "datasets_preprocess": {"gaitcore"}, "dlcr": {"gaitcore"},
           "opengait": {"gaitcore"}, "opengait_ccvid": {"gaitcore", "opengait"}}


def imported_packages(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(ALLOWED)


def test_imports_between_packages_run_one_way():
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            extra = imported_packages(path) - allowed - {package}
            if extra:
                wrong.append(f"{path.relative_to(REPO_ROOT)} imports {sorted(extra)}")
    assert wrong == []


def test_the_import_scan_sees_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import os\nfrom dlcr.common import x\nimport opengait.config as c\nfrom . import y\n"
                 "from datasets_preprocess.ccvid import z\n")
    assert imported_packages(f) == {"dlcr", "opengait", "datasets_preprocess"}


def test_result_files_record_no_machine_paths():
    """benchmarks/results/ is committed: paths in it are relative to the repository."""
    machine = ("/work/", "/tmp/", "/home/", "/root/", "site-packages", "C:\\\\")
    found = [f"{p.relative_to(REPO_ROOT)}: {m}" for p in sorted((REPO_ROOT / "benchmarks" / "results").rglob("*"))
             if p.suffix in (".json", ".md") for m in machine if m in p.read_text(encoding="utf-8")]
    assert found == []
