"""`python <script> --help` for many scripts in one process, so torch and the other libraries are
imported once rather than once per script (about 3 s each on 2 busy cores).

    python tests/help_texts.py <columns> <script> [<script> ...]    # paths relative to the repository

prints one JSON object: {script: {"code": exit status, "stdout": ..., "stderr": ...}}. Each script
runs as ``__main__`` (``runpy.run_path``) with the ``sys.path``, ``sys.argv`` and ``COLUMNS`` a
separate ``python <script> --help`` would have, and the project's own modules are dropped from
``sys.modules`` after it, so no script sees another's imports; only third-party modules stay loaded.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def project_modules() -> list[str]:
    """Names of loaded modules whose file lies in the repository (not in an installed package)."""
    names = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if path.startswith(REPO + os.sep) and os.sep + "site-packages" + os.sep not in path:
            names.append(name)
    return names


def run_help(script: str, columns: str, base_path: list[str]) -> dict:
    path = os.path.join(REPO, script)
    sys.path[:] = [os.path.dirname(path), *base_path]
    sys.argv = [path, "--help"]
    os.environ["COLUMNS"] = columns
    stdout, stderr, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:                      # what the interpreter would print, and its status
            traceback.print_exc()
            code = 1
    for name in project_modules():
        del sys.modules[name]
    return {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


def main(argv: list[str]) -> int:
    columns, scripts = argv[0], argv[1:]
    base_path = sys.path[1:]                       # without this file's folder (sys.path[0])
    results = {script: run_help(script, columns, base_path) for script in scripts}
    sys.__stdout__.write(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
