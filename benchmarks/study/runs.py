"""One training-and-test run of the study, kept as a small JSON file and reused by its settings.

A run is the trainer's own two commands (``main.py --phase train`` then ``--phase test``) on a
pretreated root with ``--set`` overrides. Its record (settings, their hash, metrics, coverage,
the logged loss curve, seconds, commit, machine, optionally each probe's score) is written
atomically to ``<results>/<name>.json``; a later call with the same settings returns the record
without training, so a study resumes from its committed run files on a fresh clone.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gaitcore.atomic_files import atomic_write_text
from gaitcore.errors import UserInputError

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


@dataclass(frozen=True)
class RunSpec:
    """What to train and test, and everything that decides the result (``settings``)."""

    name: str                         # file name of the record (unique within the results folder)
    config: str                       # experiment YAML, relative to the repository
    data: Path                        # pretreated work folder (holds pretreated/ and the partition)
    partition: str                    # the partition file inside ``data``
    sets: tuple[str, ...]             # --set overrides besides the data paths and the seed
    seed: int                         # training seed
    iterations: int
    settings: dict = field(default_factory=dict)
    keep_probes: bool = False         # store each probe's rank-1 (and AP) in the record
    main: str = "opengait/opengait/main.py"
    # The settings the record is kept under, when a study states them itself (study v2's run
    # files, hashed over its own settings dict); by default the config, sets, seed, iterations
    # and ``settings``.
    record_settings: dict | None = None

    def all_settings(self) -> dict:
        if self.record_settings is not None:
            return dict(self.record_settings)
        return {"config": self.config, "sets": list(self.sets), "train_seed": self.seed,
                "iterations": self.iterations, **self.settings}


def lr_steps(iterations: int) -> tuple[int, int]:
    """The learning-rate milestones of every study run: at 2/3 and 9/10 of its iterations."""
    return int(iterations * 2 / 3), int(iterations * 0.9)


def schedule_sets(config: str, iterations: int) -> tuple[str, ...]:
    """The ``--set`` items that fit a config's learning-rate schedule to the run's length:
    MultiStepLR steps at :func:`lr_steps`; a one-cycle schedule (GaitGraph2's) spans the run."""
    from opengait.config import load_config
    if load_config(REPO / config).scheduler.get("scheduler") == "OneCycleLR":
        return (f"scheduler_cfg.total_steps={iterations}",)
    return ("scheduler_cfg.milestones=[{}, {}]".format(*lr_steps(iterations)),)


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def record_path(results: Path, spec: RunSpec) -> Path:
    return Path(results) / f"{spec.name}.json"


def finished(results: Path, spec: RunSpec) -> dict | None:
    """The record of a finished run with these settings, or None."""
    path = record_path(results, spec)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return record if record.get("settings_hash") == settings_hash(spec.all_settings()) else None


def run_command(cmd: list, what: str, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise UserInputError(f"{what} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result


def train_and_test(spec: RunSpec, results: Path, runs: Path, threads: int, overwrite: bool = False) -> dict:
    """Train and test ``spec`` (unless a record with its settings exists) and return the record."""
    if not overwrite and (record := finished(results, spec)) is not None:
        return {**record, "reused": True}
    sets = [f"data_cfg.dataset_root={spec.data / 'pretreated'}",
            f"data_cfg.dataset_partition={spec.data / spec.partition}",
            "data_cfg.dataset_name=study", "data_cfg.num_workers=0",
            f"trainer_cfg.seed={spec.seed}", f"trainer_cfg.total_iter={spec.iterations}",
            f"trainer_cfg.save_iter={spec.iterations}", f"trainer_cfg.log_iter={max(1, spec.iterations // 40)}",
            "trainer_cfg.image_log_iter=0", f"trainer_cfg.save_name={spec.name}",
            f"evaluator_cfg.save_name={spec.name}", "trainer_cfg.restore_hint=0", *spec.sets]
    from opengait.config import load_config
    cfg = load_config(REPO / spec.config, sets)
    run_dir = Path(runs) / "study" / cfg.model["model"] / spec.name
    if run_dir.exists():
        shutil.rmtree(run_dir)                       # a run killed halfway starts again
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    base = [PY, spec.main, "--cfgs", REPO / spec.config, "--output_root", runs,
            *[a for s in sets for a in ("--set", s)]]
    start, commit = time.time(), git_commit()       # the code the run starts with
    run_command([*base, "--phase", "train"], f"training {spec.name}", env)
    run_command([*base, "--phase", "test"], f"testing {spec.name}", env)
    seconds = time.time() - start
    evaluation = json.loads((run_dir / "eval" / f"{spec.iterations:05d}.json").read_text())
    record = {"settings": spec.all_settings(), "settings_hash": settings_hash(spec.all_settings()),
              "metrics": {k: round(float(v), 6) for k, v in evaluation["results"].items()},
              "coverage": evaluation.get("coverage", {}), "loss_curve": loss_curve(run_dir / "summary"),
              "seconds": round(seconds, 1), "commit": commit,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, {threads} thread(s)"}
    probes = run_dir / "eval" / "probes" / f"{spec.iterations:05d}.json"
    if spec.keep_probes and probes.exists():
        record["probes"] = {r["probe"]: round(r["rank1"], 4) for r in json.loads(probes.read_text())}
    atomic_write_text(record_path(results, spec), json.dumps(record, indent=1) + "\n")
    return {**record, "reused": False}


def loss_curve(summary: Path) -> dict:
    """The summed logged loss (every loss the config names) per logged iteration."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    acc = EventAccumulator(str(summary), size_guidance={"scalars": 0})
    acc.Reload()
    parts = [t for t in acc.Tags()["scalars"] if t.startswith("scalar/") and t.endswith("/loss") and t.count("/") == 2]
    if not parts:
        return {"iteration": [], "loss": []}
    steps = sorted({e.step for e in acc.Scalars(parts[0])})
    values = {t: {e.step: e.value for e in acc.Scalars(t)} for t in parts}
    return {"iteration": steps, "loss": [round(sum(values[t].get(s, 0.0) for t in parts), 5) for s in steps]}


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"
