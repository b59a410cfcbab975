"""Shared fixtures. Everything is built in temp folders; nothing touches the network."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Offline switches for the model libraries (see README "Running offline").
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")


def run_script(script: str, *args: str, check: bool = True, timeout: float = 600,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python <repo>/<script> args`` the way the README does; return the result."""
    result = subprocess.run([sys.executable, str(REPO_ROOT / script), *map(str, args)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"{script} {' '.join(map(str, args))} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")
    return result


@pytest.fixture
def script():
    """The ``run_script`` helper as a fixture."""
    return run_script
