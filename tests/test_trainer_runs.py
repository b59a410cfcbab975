"""The trainer end to end on synthetic pretreated data: train, resume, TensorBoard, test,
bad configs, and a two-process data-parallel run."""
from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, read_scalars, run_script, write_config

MAIN = "opengait/opengait/main.py"
TINY_SGPP = {"model": "SkeletonGaitPP", "Backbone": {"blocks": [1, 1, 1, 1], "C": 0.25}, "bin_num": [8]}
TINY_GAITBASE = {"model": "GaitBase", "backbone_cfg": {"channels": [8, 16, 32, 64]},
                 "SeparateFCs": {"in_channels": 64, "out_channels": 32, "parts_num": 8},
                 "bin_num": [8]}


def run_on_two_processes(cfg, out, *extra: str):
    """``torchrun --nproc_per_node 2 main.py --cfgs cfg --output_root out *extra`` (gloo on a
    CPU); returns the finished process."""
    import subprocess
    import sys
    for _ in range(2):  # gloo on CPU occasionally aborts at start-up; one retry
        cmd = [os.path.join(os.path.dirname(sys.executable), "torchrun"), "--nproc_per_node", "2",
               "--master_port", str(free_port()), str(REPO_ROOT / MAIN), "--cfgs", cfg,
               "--output_root", str(out), *extra]
        result = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        if result.returncode == 0:
            break
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def run_dir(out, model="SkeletonGaitPP", name="test_run"):
    return out / "synthetic" / model / name


@pytest.mark.slow
def test_train_resume_reproduces_the_uninterrupted_run(pretreated_casia, tmp_path):
    cfg = write_config(tmp_path / "a.yaml", pretreated_casia, TINY_SGPP,
                       data_cfg={"data_in_use": [True, True, False]})
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out")
    full = read_scalars(run_dir(tmp_path / "out") / "summary")
    ckpts = sorted(os.listdir(run_dir(tmp_path / "out") / "checkpoints"))
    assert ckpts == ["test_run-00003.pt", "test_run-00006.pt"]
    for tag in ("scalar/triplet/loss", "scalar/triplet/hard_loss", "scalar/triplet/loss_num",
                "scalar/triplet/mean_dist", "scalar/softmax/loss", "scalar/softmax/accuracy",
                "scalar/learning_rate", "scalar/iteration_time", "scalar/sequences_per_second"):
        assert sorted(full[tag]) == [1, 2, 3, 4, 5, 6], tag
    # Resume from iteration 3 in a fresh run folder: iterations 4-6 repeat exactly.
    ckpt = run_dir(tmp_path / "out") / "checkpoints" / "test_run-00003.pt"
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "resumed",
               "--set", f"trainer_cfg.restore_hint={ckpt}")
    resumed = read_scalars(run_dir(tmp_path / "resumed") / "summary")
    assert sorted(resumed["scalar/softmax/loss"]) == [4, 5, 6]
    for tag in ("scalar/softmax/loss", "scalar/triplet/loss"):
        for step in (4, 5, 6):
            assert resumed[tag][step] == pytest.approx(full[tag][step], rel=1e-5, abs=1e-6), (tag, step)
    # restore_hint=latest on a finished run does nothing (what `make demo` relies on).
    before = (run_dir(tmp_path / "out") / "checkpoints" / "test_run-00006.pt").stat().st_mtime_ns
    again = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out",
                       "--set", "trainer_cfg.restore_hint=latest")
    assert "already trained to iteration 6" in again.stderr
    assert (run_dir(tmp_path / "out") / "checkpoints" / "test_run-00006.pt").stat().st_mtime_ns == before
    saved = (run_dir(tmp_path / "out") / "config.yaml").read_text()
    assert "total_iter: 6" in saved and "dataset_root" in saved


@pytest.mark.slow
def test_loss_decreases_and_test_phase_reports_the_table(pretreated_casia, tmp_path):
    cfg = write_config(tmp_path / "b.yaml", pretreated_casia, TINY_GAITBASE,
                       data_cfg={"data_in_use": [False, True, False]},
                       optimizer_cfg={"solver": "Adam", "lr": 0.003},
                       trainer_cfg={"total_iter": 40, "save_iter": 40, "log_iter": 1,
                                    "sampler": {"batch_size": [3, 2]}})
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out", "--log_to_file")
    scalars = read_scalars(run_dir(tmp_path / "out", "GaitBase") / "summary")
    losses = [scalars["scalar/softmax/loss"][i] for i in range(1, 41)]
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8]), losses
    logs = list((run_dir(tmp_path / "out", "GaitBase") / "logs").glob("*.txt"))
    assert logs and "iteration 40/40" in logs[0].read_text()
    result = run_script(MAIN, "--cfgs", cfg, "--phase", "test", "--output_root", tmp_path / "out")
    assert "results: NM" in result.stdout and "BG" in result.stdout and "CL" in result.stdout
    assert "rank-1 (%) per probe view, identical view excluded" in result.stderr
    assert "NM: " in result.stdout and "probes evaluated" in result.stdout
    record = json.loads((run_dir(tmp_path / "out", "GaitBase") / "eval" / "00040.json").read_text())
    assert set(record["results"]) == {"NM", "BG", "CL"} and record["sequences"] > 0
    assert all(0.0 <= v <= 1.0 for v in record["results"].values())   # exact values: the next test
    scalars = read_scalars(run_dir(tmp_path / "out", "GaitBase") / "summary")
    assert scalars["test_accuracy/NM"][40] == pytest.approx(record["results"]["NM"])


# Hand-set test features of the synthetic CASIA-B test ids 004 (A) and 005 (B), one number per
# sequence (subject, type, view); nm-01..04 are the gallery, nm-05/06, bg-01, cl-01 the probes.
GALLERY_FEATURE = {("004", "000"): 0.0, ("005", "000"): 10.0, ("004", "090"): 100.0, ("005", "090"): 110.0}
PROBE_FEATURE = {
    # NM probes of view 000 are compared with the 090 gallery (A 100, B 110) and vice versa.
    ("004", "nm-05", "000"): 101.0, ("004", "nm-06", "000"): 101.0,   # A, A: hits
    ("005", "nm-05", "000"): 109.0, ("005", "nm-06", "000"): 104.0,   # B hit; B nearer A (4 < 6): miss
    ("004", "nm-05", "090"): 1.0, ("004", "nm-06", "090"): 6.0,       # A hit; B nearer (4 < 6): miss
    ("005", "nm-05", "090"): 4.0, ("005", "nm-06", "090"): 9.0,       # A nearer (4 < 6): miss; B hit
    ("004", "bg-01", "000"): 106.0, ("005", "bg-01", "000"): 108.0,   # miss (B 4 < A 6); hit
    ("004", "bg-01", "090"): 6.0, ("005", "bg-01", "090"): 3.0,       # miss (B 4 < 6); miss (A 3 < 7)
    ("004", "cl-01", "000"): 100.0, ("005", "cl-01", "000"): 101.0,   # hit; miss (A 1 < 9)
    ("004", "cl-01", "090"): 9.0, ("005", "cl-01", "090"): 10.0,      # miss (B 1 < 9); hit
}
# Per probe view, rank-1 against the other view's gallery (the identical view is excluded:
# there, e.g., A's NM probe 101 at 000 would be nearer B's 10 than A's 0), then the mean:
# NM (3/4 + 2/4) / 2 = 0.625, BG (1/2 + 0/2) / 2 = 0.25, CL (1/2 + 1/2) / 2 = 0.5.
HAND_RESULTS = {"NM": 0.625, "BG": 0.25, "CL": 0.5}


def test_casia_b_test_phase_metrics_on_hand_set_features(pretreated_casia, tmp_path, monkeypatch):
    """The test phase's evaluation path (the synthetic root's test split, evaluator
    evaluate_casia_b, eval JSON, TensorBoard) with the model's features replaced by the
    hand-set ones above: every reported number is the hand-computed one."""
    from accelerate import Accelerator
    from opengait.config import load_config
    from opengait.data.dataset import GaitDataset
    from opengait.engine import inference
    cfg = load_config(write_config(tmp_path / "h.yaml", pretreated_casia, TINY_GAITBASE,
                                   data_cfg={"data_in_use": [False, True, False]}))
    test_set = GaitDataset(cfg.data, train=False)

    def feature(seq):
        if seq.type in ("nm-01", "nm-02", "nm-03", "nm-04"):
            return GALLERY_FEATURE[(seq.subject, seq.view)]
        return PROBE_FEATURE[(seq.subject, seq.type, seq.view)]
    hand = {i: np.full((1, 1), feature(seq), np.float32) for i, seq in enumerate(test_set.sequences)}
    assert sorted({s.subject for s in test_set.sequences}) == ["004", "005"] and len(hand) == 2 * 2 * 8
    monkeypatch.setattr(inference, "extract_features", lambda model, loader, accelerator, compile=False: hand)
    run = tmp_path / "run"
    result = inference.evaluate(cfg, torch.nn.Identity(), Accelerator(cpu=True), run, 7)
    assert result.metrics == pytest.approx(HAND_RESULTS, abs=1e-12)
    assert result.coverage == {"NM": (8, 8), "BG": (4, 4), "CL": (4, 4)}
    record = json.loads((run / "eval" / "00007.json").read_text())
    assert record["results"] == pytest.approx(HAND_RESULTS, abs=1e-12) and record["eval_func"] == "evaluate_casia_b"
    scalars = read_scalars(run / "summary")
    assert {k: scalars[f"test_accuracy/{k}"][7] for k in HAND_RESULTS} == pytest.approx(HAND_RESULTS, abs=1e-6)


@pytest.mark.slow
def test_checkpoint_of_another_model_is_refused(pretreated_casia, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", pretreated_casia, TINY_SGPP,
                       data_cfg={"data_in_use": [True, True, False]},
                       trainer_cfg={"total_iter": 1, "save_iter": 1})
    run_script(MAIN, "--cfgs", cfg, "--output_root", tmp_path / "out")
    ckpt = run_dir(tmp_path / "out") / "checkpoints" / "test_run-00001.pt"
    other = write_config(tmp_path / "d.yaml", pretreated_casia, TINY_GAITBASE,
                         data_cfg={"data_in_use": [False, True, False]},
                         trainer_cfg={"restore_hint": str(ckpt)})
    result = run_script(MAIN, "--cfgs", other, "--output_root", tmp_path / "out2", check=False)
    assert result.returncode == 2 and "saved by model 'SkeletonGaitPP'" in result.stderr
    wider = write_config(tmp_path / "e.yaml", pretreated_casia,
                         {**TINY_SGPP, "Backbone": {"blocks": [1, 1, 1, 1], "C": 0.5}},
                         data_cfg={"data_in_use": [True, True, False]},
                         trainer_cfg={"restore_hint": str(ckpt)})
    result = run_script(MAIN, "--cfgs", wider, "--output_root", tmp_path / "out3", check=False)
    assert result.returncode == 2 and "different model_cfg (differs in: Backbone;" in result.stderr


SLOW = pytest.mark.slow                            # 5.3-6.1 s each (--durations): these read the data


@pytest.mark.parametrize("sections, message", [
    pytest.param({"data_cfg": {"dataset_root": "/no/such/root"}}, "dataset_root: '/no/such/root' is not a folder",
                 marks=SLOW),
    ({"trainer_cfg": {"totl_iter": 3}}, "unknown key 'trainer_cfg.totl_iter' (did you mean 'total_iter'?)"),
    pytest.param({"data_cfg": {"data_in_use": [True] * 9}}, "data_in_use has 9 entries but the sequences",
                 marks=SLOW),
    # A shorter list leaves the later files out (OpenGait's rule): here the silhouettes.
    pytest.param({"data_cfg": {"data_in_use": [True, False]}},
                 "1_sil; the batch has 0_heatmap (check data_cfg.data_in_use)", marks=SLOW),
    ({"optimizer_cfg": {"solver": "SGD", "lr": 0.1, "momentun": 0.9}}, "SGD has no setting 'momentun'"),
    pytest.param({"trainer_cfg": {"sampler": {"batch_size": [9, 2]}}}, "P = 9 ids per batch", marks=SLOW),
])
@pytest.mark.slow
def test_bad_configs_give_clear_errors(pretreated_casia, tmp_path, sections, message):
    cfg = write_config(tmp_path / "bad.yaml", pretreated_casia, TINY_SGPP, **sections)
    result = run_script(MAIN, "--cfgs", cfg, "--output_root", tmp_path / "out", check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_data_parallel_keeps_ranks_identical(pretreated_casia, tmp_path):
    # with activation checkpointing on two stages: it must work under DDP too
    cfg = write_config(tmp_path / "ddp.yaml", pretreated_casia, {**TINY_SGPP, "checkpoint_stages": [1, 3]},
                       data_cfg={"data_in_use": [True, True, False]},
                       trainer_cfg={"total_iter": 4, "save_iter": 2, "sync_BN": True})
    result = run_on_two_processes(cfg, tmp_path / "out")
    assert "2 process(es)" in result.stderr
    assert result.stderr.count("parameters identical on 2 processes") == 2   # iterations 2 and 4
    assert (run_dir(tmp_path / "out") / "checkpoints" / "test_run-00004.pt").exists()
    state = torch.load(run_dir(tmp_path / "out") / "checkpoints" / "test_run-00004.pt",
                       weights_only=True)
    assert state["iteration"] == 4
    # Two-process test phase: each process embeds its share; same numbers as one process.
    run_on_two_processes(cfg, tmp_path / "out", "--phase", "test")
    two = json.loads((run_dir(tmp_path / "out") / "eval" / "00004.json").read_text())["results"]
    run_script(MAIN, "--cfgs", cfg, "--output_root", tmp_path / "out", "--phase", "test")
    one = json.loads((run_dir(tmp_path / "out") / "eval" / "00004.json").read_text())["results"]
    assert two == one


def test_find_unused_parameters_reaches_ddp(tmp_path):
    from opengait.config import load_config
    from opengait.main import make_accelerator
    path = tmp_path / "c.yaml"
    path.write_text("model_cfg:\n  model: GaitBase\n")
    for value in (False, True):
        cfg = load_config(path, [f"trainer_cfg.find_unused_parameters={str(value).lower()}"])
        assert make_accelerator(cfg, cfg.trainer).ddp_handler.find_unused_parameters is value


@pytest.mark.slow
def test_two_process_hybridgait_ablation(pretreated_casia, tmp_path):
    """An ablation of HybridGait (no fusion: its keypoint branch is not built) trains under DDP
    with find_unused_parameters on, and the ranks stay identical."""
    model = {"model": "HybridGait", "Backbone": {"blocks": [1, 1, 1, 1], "C": 0.25}, "bin_num": [8],
             "pose_channels": [8, 16], "num_heads": 2, "head_dim": 8, "fusion": "none"}
    cfg = write_config(tmp_path / "ddp.yaml", pretreated_casia, model,
                       trainer_cfg={"total_iter": 2, "save_iter": 2, "find_unused_parameters": True})
    result = run_on_two_processes(cfg, tmp_path / "out")
    assert result.stderr.count("parameters identical on 2 processes") == 1
