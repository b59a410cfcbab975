"""Run repository scripts the way ``python <script> <args>`` does, in forks of one process that has
imported torch and the other heavy libraries already (about 3 s per script on 2 busy cores, spent
once per test worker instead of once per script run).

The test helper ``run_script`` (tests/conftest.py) starts this server once per test process and
sends it one request per line on stdin, a JSON object {"argv", "cwd", "env", "stdout", "stderr"}.
For each, the server forks; the child takes the request's environment (replacing its own), working
folder, argv and ``sys.path[0]`` (the script's folder), writes standard output and error to the two
files, and runs the script as ``__main__`` (``runpy.run_path``). A ``SystemExit`` gives the exit
status, an uncaught exception the interpreter's traceback and status 1 (a Ctrl-C: death by SIGINT);
exit handlers run, then the child ends. The server answers {"pid"} when the child starts and {"code"} when it has ended.

Only libraries outside the repository are imported beforehand, so each script imports the project's
own modules afresh; a child inherits nothing from an earlier script. ``TEST_SCRIPTS_SEPARATE=1``
makes ``run_script`` start a fresh interpreter per script instead.
"""
from __future__ import annotations

import atexit
import json
import os
import runpy
import signal
import sys
import traceback

PRELOAD = ("numpy", "torch", "torch.nn", "torch.utils.data", "torchvision", "cv2", "yaml", "PIL.Image",
           "scipy", "tqdm", "accelerate", "safetensors")


def preload() -> None:
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:                         # optional here: the script will say what it lacks
            pass


def run_child(request: dict) -> None:
    """In the forked child: become ``python <argv...>`` and never return."""
    code, interrupted = 1, False
    try:
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)                         # not the server's request pipe
        os.close(devnull)
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        script = request["argv"][0]
        sys.argv = list(request["argv"])
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:                                   # sys.exit("message"): printed, status 1
                print(e.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:                   # as the interpreter: traceback, exit handlers, SIGINT
            traceback.print_exc()
            interrupted = True
        except BaseException:
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        if interrupted:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(code & 0xFF)


def main() -> int:
    preload()                                       # sys.path[0] (this folder) is replaced per script
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        print(json.dumps({"code": code}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
