"""Faults injected on purpose: damaged or hostile files, runs that would overwrite other runs,
interrupted processes. Each must end in a one-line error naming the file, or a counted skip,
and never in lost or silently mixed results."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT, read_scalars, run_script, write_config

MAIN = "opengait/opengait/main.py"
TINY_GAITBASE = {"model": "GaitBase", "backbone_cfg": {"channels": [8, 16, 32, 64]},
                 "SeparateFCs": {"in_channels": 64, "out_channels": 32, "parts_num": 8},
                 "bin_num": [8]}


def gaitbase_config(tmp_path, root, **trainer):
    return write_config(tmp_path / "gaitbase.yaml", root, TINY_GAITBASE,
                        data_cfg={"data_in_use": [False, True, False]},
                        trainer_cfg={"total_iter": 4, "save_iter": 2, "image_log_iter": 0, **trainer})


def test_a_fresh_run_does_not_write_over_an_earlier_one(pretreated_casia, tmp_path):
    cfg = gaitbase_config(tmp_path, pretreated_casia)
    out = tmp_path / "out"
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out)
    run = out / "synthetic" / "GaitBase" / "test_run"
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    again = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out, check=False)
    assert again.returncode == 2
    assert f"{run}: holds the checkpoints of an earlier run (newest test_run-00004.pt)" in again.stderr
    assert "restore_hint=latest" in again.stderr and "--overwrite" in again.stderr
    assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == before
    # --overwrite starts again and keeps the earlier run, moved aside.
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out, "--overwrite")
    aside = [p for p in run.parent.iterdir() if p.name.startswith("test_run.replaced-")]
    assert len(aside) == 1
    assert {p.name: p.read_bytes() for p in (aside[0] / "checkpoints").iterdir()} == before
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["test_run-00002.pt", "test_run-00004.pt"]
    assert sorted(read_scalars(run / "summary")["scalar/softmax/loss"]) == [1, 2, 3, 4]


def test_latest_passes_over_a_cut_checkpoint(pretreated_casia, tmp_path):
    cfg = gaitbase_config(tmp_path, pretreated_casia)
    out = tmp_path / "out"
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out,
               "--set", "trainer_cfg.total_iter=2")
    run = out / "synthetic" / "GaitBase" / "test_run" / "checkpoints"
    # A later checkpoint cut short (a full disk, a copy interrupted): half of its bytes.
    good = (run / "test_run-00002.pt").read_bytes()
    (run / "test_run-00003.pt").write_bytes(good[: len(good) // 2])
    resumed = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out,
                         "--set", "trainer_cfg.restore_hint=latest")
    assert "test_run-00003.pt: skipped, not a complete checkpoint archive" in resumed.stderr
    assert "resumed from" in resumed.stderr and "test_run-00002.pt at iteration 2" in resumed.stderr
    assert (run / "test_run-00004.pt").exists()
    # Testing the cut file itself is a one-line error naming it.
    bad = run_script(MAIN, "--cfgs", cfg, "--phase", "test", "--output_root", out,
                     "--set", f"evaluator_cfg.restore_hint={run / 'test_run-00003.pt'}", check=False)
    assert bad.returncode == 2 and "test_run-00003.pt: not a loadable checkpoint" in bad.stderr


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_yolo_checkpoint_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "yolo-evil.pt"
    torch.save({"model": _Payload(marker), "train_args": {}}, evil)
    code = ("import sys; from datasets_preprocess.common.pose_estimation import load_yolo, ModelLoadError\n"
            "try:\n    load_yolo(sys.argv[1], 'pose')\nexcept ModelLoadError as e:\n    print('refused:', e)\n")
    result = subprocess.run([sys.executable, "-c", code, str(evil)], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300)
    assert "refused:" in result.stdout and str(evil) in result.stdout, result.stderr[-2000:]
    assert not marker.exists()
