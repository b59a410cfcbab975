"""Imports between the top-level packages run one way: gaitcore (the shared core: the pretreated
format, safe loading, atomic files, the CLI runner, image/video/pose I/O) imports nothing of
ours; datasets_preprocess, dlcr and opengait import only the core, never each other;
opengait_ccvid (a plugin of the trainer) imports the core and opengait. Within the packages, no
two modules import each other, directly or through others (imports inside functions count too)."""
from __future__ import annotations

import ast
from pathlib import Path

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


# (folder on sys.path, package) of every package of ours; opengait's package sits one level down.
PACKAGE_ROOTS = [(REPO_ROOT, "gaitcore"), (REPO_ROOT, "datasets_preprocess"), (REPO_ROOT, "dlcr"),
                 (REPO_ROOT, "opengait_ccvid"), (REPO_ROOT / "opengait", "opengait"),
                 (REPO_ROOT / "benchmarks", "study")]


def module_graph(roots: list[tuple[Path, str]]) -> dict[str, set[str]]:
    """{module: the modules of ours it imports}, modules named as Python imports them."""
    files = {}
    for root, package in roots:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def ours(name: str) -> str | None:            # the longest prefix that is a module of ours
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None
    graph = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {ours(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:                    # relative: up level - 1 packages from this one
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets |= {ours(f"{base}.{a.name}") for a in node.names} | {ours(base)}
        graph[module] = targets - {None, module}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_two_modules_import_each_other():
    graph = module_graph(PACKAGE_ROOTS)
    assert len(graph) > 100 and "opengait.config" in graph["opengait.main"]
    assert import_cycles(graph) == []


def test_the_cycle_scan_finds_a_cycle_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for name in ("__init__.py", "sub/__init__.py"):
        (pkg / name).write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (pkg / "c.py").write_text("import pkg.a\nfrom . import d\n")
    (pkg / "d.py").write_text("import os\n")
    graph = module_graph([(tmp_path, "pkg")])
    assert graph["pkg.sub.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a", "pkg", "pkg.d"}
    assert import_cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    (pkg / "c.py").write_text("from . import d\n")
    assert import_cycles(module_graph([(tmp_path, "pkg")])) == []


def test_result_files_record_no_machine_paths():
    """benchmarks/results/ is committed: paths in it are relative to the repository."""
    machine = ("/work/", "/tmp/", "/home/", "/root/", "site-packages", "C:\\\\")
    found = [f"{p.relative_to(REPO_ROOT)}: {m}" for p in sorted((REPO_ROOT / "benchmarks" / "results").rglob("*"))
             if p.suffix in (".json", ".md") for m in machine if m in p.read_text(encoding="utf-8")]
    assert found == []


def test_the_license_file_is_the_one_pyproject_declares():
    import tomllib
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]
    assert declared == {"text": "Apache-2.0"}
    head = (REPO_ROOT / "LICENSE").read_text(encoding="utf-8").split()[:4]
    assert head == ["Apache", "License", "Version", "2.0,"]
