"""Shared fixtures. Everything is built in temp folders; nothing touches the network."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Offline switches for the model libraries (see docs/install.md).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
# Under pytest-xdist (make test: one worker per core) each worker and the scripts it starts use
# one thread: two multi-threaded torch processes per core run several times slower
# (OpenMP oversubscription).
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"
    import torch
    torch.set_num_threads(1)


# Read by the interpreter or by torch when they start: a script whose environment differs from the
# script server's in one of these gets a fresh interpreter.
STARTUP_ENV = ("PYTHONPATH", "PYTHONHASHSEED", "PYTHONWARNINGS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "CUDA_VISIBLE_DEVICES")


class ScriptServer:
    """Client of tests/script_server.py: runs ``python <script> args`` in a fork of one process that
    has imported torch already (the README's command, minus ~3 s of imports per run)."""

    def __init__(self):
        self.env = dict(os.environ)
        self.proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "tests" / "script_server.py")],
                                     cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, bufsize=0, env=self.env)
        self.pending = b""

    def serves(self, env: dict) -> bool:
        return self.proc.poll() is None and all(env.get(k) == self.env.get(k) for k in STARTUP_ENV)

    def _answer(self, deadline: float | None) -> dict | None:
        """The server's next JSON line, or None when ``deadline`` (time.monotonic) passes first."""
        while b"\n" not in self.pending:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.proc.stdout], [], [], wait)[0]:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("tests/script_server.py ended unexpectedly")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def run(self, argv: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            request = {"argv": argv, "cwd": str(REPO_ROOT), "env": env, "stdout": str(out), "stderr": str(err)}
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            pid = self._answer(None)["pid"]
            answer = self._answer(time.monotonic() + timeout)
            if answer is None:                              # as subprocess.run(timeout=...) does
                os.kill(pid, signal.SIGKILL)
                self._answer(None)
                raise subprocess.TimeoutExpired(argv, timeout, output=out.read_text(errors="replace"),
                                                stderr=err.read_text(errors="replace"))
            return subprocess.CompletedProcess(argv, answer["code"], out.read_text(errors="replace"),
                                               err.read_text(errors="replace"))


_SERVER: list[ScriptServer] = []
_SERVER_LOCK = threading.Lock()


def _run_in_server(argv: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess | None:
    with _SERVER_LOCK:
        if not _SERVER or _SERVER[0].proc.poll() is not None:
            _SERVER[:] = [ScriptServer()]
        if not _SERVER[0].serves(env):
            return None
        return _SERVER[0].run(argv, env, timeout)


def run_script(script: str, *args: str, check: bool = True, timeout: float = 600,
               env: dict | None = None, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python <repo>/<script> args`` the way the README does (or under ``launcher``,
    e.g. ``torchrun``); return the result. Without a launcher the script runs in a fork of the
    test process's script server (tests/script_server.py: torch imported once), unless
    ``TEST_SCRIPTS_SEPARATE=1`` or the environment differs in what an interpreter reads at start."""
    start = time.perf_counter()
    argv = [str(REPO_ROOT / script), *map(str, args)]
    full_env = {**os.environ, **(env or {})}
    result = None
    if launcher is None and os.environ.get("TEST_SCRIPTS_SEPARATE") != "1":
        result = _run_in_server(argv, full_env, timeout)
    if result is None:
        result = subprocess.run([*(launcher or [sys.executable]), *argv], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=timeout, env=full_env)
    if os.environ.get("TEST_SCRIPT_TIMES"):       # where the suite's time goes: one line per script run
        with open(os.environ["TEST_SCRIPT_TIMES"], "a") as f:
            f.write(f"{time.perf_counter() - start:.1f}\t{os.environ.get('PYTEST_CURRENT_TEST', '')}\t{script}\t"
                    f"{' '.join(map(str, args))[:200]}\n")
    if check and result.returncode != 0:
        raise AssertionError(f"{script} {' '.join(map(str, args))} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")
    return result


def make_synthetic_ccvid(folder, frames: int, subjects: int = 4):
    """A small synthetic CCVID set (one camera, no damaged frames) for the DLCR tests."""
    run_script("datasets_preprocess/synthetic/make_synthetic_gait.py", "--layout", "ccvid", "--out", folder,
               "--subjects", str(subjects), "--frames", str(frames), "--views", "036",
               "--missing-frame-rate", "0", "--broken-frame-rate", "0")
    return folder


@pytest.fixture
def script():
    """The ``run_script`` helper as a fixture."""
    return run_script


@pytest.fixture(scope="session")
def pretreated_casia(tmp_path_factory):
    """A small synthetic CASIA-B set, preprocessed: 4 subjects (3 train / 1 test ... as the
    split rule gives), all conditions needed by the CASIA-B protocol, views 000 and 090."""
    base = tmp_path_factory.mktemp("pretreated_casia")
    raw, work = base / "raw", base / "work"
    run_script("datasets_preprocess/synthetic/make_synthetic_gait.py", "--out", raw,
               "--subjects", "5", "--types", "nm-01,nm-02,nm-03,nm-04,nm-05,nm-06,bg-01,cl-01",
               "--views", "000,090", "--frames", "16")
    run_script("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes", raw / "silhouettes",
               "--pose-from", raw / "poses", "--out", work)
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
               raw / "silhouettes", "--out", work)
    return work


def write_config(path, root, model_cfg: dict, **sections) -> str:
    """A tiny experiment file over the synthetic set (CPU-sized)."""
    import yaml
    cfg = {
        "data_cfg": {"dataset_name": "synthetic", "dataset_root": str(root / "pretreated"),
                     "dataset_partition": str(root / "casia_b.json"), "num_workers": 0},
        "evaluator_cfg": {"eval_func": "evaluate_casia_b",
                          "sampler": {"batch_size": 8, "sample_type": "all_ordered", "frames_all_limit": 720},
                          "transform": [{"type": "BaseSilCuttingTransform"},
                                        {"type": "Resize", "size": [32, 22]}]},
        "loss_cfg": [{"type": "TripletLoss", "margin": 0.2, "log_prefix": "triplet"},
                     {"type": "CrossEntropyLoss", "scale": 16, "label_smooth": True,
                      "log_prefix": "softmax", "log_accuracy": True}],
        "model_cfg": model_cfg,
        "scheduler_cfg": {"scheduler": "MultiStepLR", "milestones": [1000], "gamma": 0.1},
        "trainer_cfg": {"save_name": "test_run", "total_iter": 6, "save_iter": 3, "log_iter": 1,
                        "image_log_iter": 2,
                        "sampler": {"type": "TripletSampler", "batch_size": [2, 2],
                                    "sample_type": "fixed_ordered", "frames_num_fixed": 8,
                                    "frames_skip_num": 2},
                        "transform": [{"type": "BaseSilCuttingTransform"},
                                      {"type": "Resize", "size": [32, 22]},
                                      {"type": "RandomHorizontalFlip", "prob": 0.5}]},
    }
    for name, values in sections.items():
        for k, v in values.items():
            if isinstance(v, dict) and isinstance(cfg.get(name, {}).get(k), dict):
                cfg[name][k].update(v)
            else:
                cfg.setdefault(name, {})[k] = v
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def read_scalars(summary_dir) -> dict[str, dict[int, float]]:
    """Every scalar of a TensorBoard folder: {tag: {step: value}}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(summary_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


@pytest.fixture(scope="session")
def opengait_root(pretreated_casia, tmp_path_factory):
    """Our silhouettes re-written the way OpenGait's pretreatment names them:
    <id>/<type>/<view>/<view>.pkl, a plain pickle of the uint8 array."""
    import pickle
    import shutil
    from gaitcore.pretreated_io import list_sequences, read_sequence
    root = tmp_path_factory.mktemp("opengait_root")
    for ref in list_sequences(pretreated_casia / "pretreated"):
        folder = root / "pretreated" / ref.subject / ref.type / ref.view
        folder.mkdir(parents=True)
        with open(folder / f"{ref.view}.pkl", "wb") as f:
            pickle.dump(read_sequence(ref.path)["1_sil"], f)
    shutil.copy(pretreated_casia / "casia_b.json", root / "casia_b.json")
    return root


def pytest_collection_modifyitems(config, items):
    """Tests marked slow run first. `make test` spreads the suite over one worker per core, which
    take the next tests as they finish: a two-minute test begun last would keep one worker busy
    long after the other has run out of work, while begun first it runs beside the short ones."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
