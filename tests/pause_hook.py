"""Stop a child process at a known point, so interruption tests do not race the clock.

``pause_after(tmp_path, pattern, count)`` returns an environment for the child and a waiter.
The child imports a ``sitecustomize`` that wraps ``os.replace`` / ``os.rename`` (the only
ways our atomic writers publish an output): once the ``count``-th output whose destination
matches ``pattern`` (a regular expression) is in place, that process drops a marker file and
sleeps until it is signalled. The test waits for the marker, then sends SIGINT or SIGKILL to
a process that is provably parked just after writing exactly ``count`` such outputs; a fast
or slow machine cannot make it finish early or be killed before anything was written.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

SITECUSTOMIZE = '''\
import os, re, time
_PATTERN = re.compile({pattern!r})
_COUNT = {count}
_MARKER = {marker!r}
_seen = [0]
_replace, _rename = os.replace, os.rename

def _published(dst):
    if _PATTERN.search(os.fspath(dst)):
        _seen[0] += 1
        if _seen[0] == _COUNT:
            with open(_MARKER + "." + str(os.getpid()), "w") as f:
                f.write(os.fspath(dst))
            while True:
                time.sleep(3600)

def replace(src, dst, *args, **kwargs):
    result = _replace(src, dst, *args, **kwargs)
    _published(dst)
    return result

def rename(src, dst, *args, **kwargs):
    result = _rename(src, dst, *args, **kwargs)
    _published(dst)
    return result

os.replace, os.rename = replace, rename
'''


def pause_after(tmp_path: Path, pattern: str, count: int):
    """Return ``(env, wait)``: run the child with ``env``; ``wait(proc)`` blocks until a
    process of the child's tree is parked and returns the path it had just published."""
    hook = Path(tmp_path) / "pause_hook"
    hook.mkdir(parents=True, exist_ok=True)
    marker = hook / "parked"
    (hook / "sitecustomize.py").write_text(
        SITECUSTOMIZE.format(pattern=pattern, count=count, marker=str(marker)))
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)}

    def wait(proc, timeout: float = 600) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            parked = sorted(hook.glob("parked.*"))
            if parked:
                return parked[0].read_text()
            if proc.poll() is not None:
                err = proc.stderr.read()[-2000:] if proc.stderr else ""
                raise AssertionError(f"the child ended (code {proc.returncode}) before reaching the "
                                     f"pause point {pattern!r} x{count}: {err}")
            time.sleep(0.02)
        raise AssertionError(f"the child did not reach the pause point {pattern!r} x{count} in {timeout} s")

    return env, wait
