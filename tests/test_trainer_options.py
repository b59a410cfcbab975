"""Trainer options, each run in-process on the synthetic CASIA-B root with a tiny GaitBase:
fix_BN, grad_clip, with_test, optimizer_reset / scheduler_reset, restore_ckpt_strict, the test
phase's --iter, and the GREW evaluators end to end from a hand-written pretreated root."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from conftest import read_scalars, write_config
from gaitcore.errors import CheckpointError, ConfigError
from opengait.config import load_config
from opengait.engine import trainer
from opengait.engine.checkpoint import checkpoint_path

TINY_GAITBASE = {"model": "GaitBase", "backbone_cfg": {"channels": [8, 16, 32, 64]},
                 "SeparateFCs": {"in_channels": 64, "out_channels": 32, "parts_num": 8},
                 "bin_num": [8]}
# SGD with momentum (buffers to restore) and a learning rate that drops after iteration 1:
# 0.1 at iteration 1, 0.1 x 0.1 = 0.01 from the scheduler's first step on.
OPTIMIZER = {"solver": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0005}
SCHEDULER = {"scheduler": "MultiStepLR", "milestones": [1], "gamma": 0.1}


def tiny_config(tmp_path, root, name="t.yaml", **trainer_cfg):
    path = write_config(tmp_path / name, root, TINY_GAITBASE, data_cfg={"data_in_use": [False, True, False]},
                        optimizer_cfg=OPTIMIZER, scheduler_cfg=SCHEDULER,
                        trainer_cfg={"total_iter": 2, "save_iter": 2, "log_iter": 1, "image_log_iter": 0,
                                     **trainer_cfg})
    return path, load_config(path)


def train(cfg, run_dir):
    set_seed(0)
    return trainer.train(cfg, Accelerator(cpu=True), run_dir)


def checkpoint(run_dir, iteration):
    return torch.load(checkpoint_path(run_dir, "test_run", iteration), weights_only=True)


def bn_buffers(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


@pytest.fixture(scope="module")
def base_run(pretreated_casia, tmp_path_factory):
    """A plain run: 4 iterations, checkpoints at 2 and 4, no testing, no clipping."""
    tmp = tmp_path_factory.mktemp("base_run")
    path, cfg = tiny_config(tmp, pretreated_casia, total_iter=4)
    run_dir = tmp / "out" / "synthetic" / "GaitBase" / "test_run"
    train(cfg, run_dir)
    return {"cfg_path": path, "cfg": cfg, "out": tmp / "out", "run": run_dir}


# --- fix_BN ----------------------------------------------------------------------------------

def test_fix_bn_freezes_batchnorm_statistics_and_off_updates_them(pretreated_casia, base_run, tmp_path):
    """BatchNorm is built with running mean 0, variance 1 and 0 batches seen. With fix_BN its
    layers are in eval mode at every training forward, so after 2 iterations all three are as
    built; the BN weights and biases still learn. Without (the base run) every BN layer has
    seen one batch per iteration: 2 at the iteration-2 checkpoint, 4 at iteration 4."""
    modes = []

    def record(module, inputs):
        modes.append(module.training)
    from opengait.modeling import registry
    build = registry.build_model

    def build_with_hooks(*args, **kwargs):
        model = build(*args, **kwargs)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.register_forward_pre_hook(record)
        return model
    _, cfg = tiny_config(tmp_path, pretreated_casia, fix_BN=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer, "build_model", build_with_hooks)
        train(cfg, tmp_path / "fixed")
    assert modes and not any(modes)                                   # eval mode at every forward
    fixed = checkpoint(tmp_path / "fixed", 2)["model"]
    buffers = bn_buffers(fixed)
    assert len(buffers) >= 3 * 5
    for name, value in buffers.items():
        built = {"running_mean": 0.0, "running_var": 1.0, "num_batches_tracked": 0}[name.rsplit(".", 1)[1]]
        assert torch.all(value == built), name
    bn_weights = [v for k, v in fixed.items() if k.replace(".weight", ".running_mean") in buffers and k.endswith(".weight")]
    assert bn_weights and any(not torch.all(w == 1.0) for w in bn_weights)   # affine parameters learn
    for iteration in (2, 4):
        free = bn_buffers(checkpoint(base_run["run"], iteration)["model"])
        assert {k: int(v) for k, v in free.items() if k.endswith("num_batches_tracked")} == {
            k: iteration for k in free if k.endswith("num_batches_tracked")}
        assert any(not torch.all(v == 0) for k, v in free.items() if k.endswith("running_mean"))


# --- grad_clip -------------------------------------------------------------------------------

def test_grad_clip_scales_the_gradient_to_the_clip_norm_by_hand():
    """loss = sum of Linear(3, 1) over 4 rows of ones: every weight and the bias get gradient 4,
    norm sqrt(4 * 16) = 8. Clipped to 2, each becomes 4 * 2 / 8 = 1; a clip above 8 (or 0:
    off) leaves them at 4, and the norm is only measured when clipping is on."""
    results = {}
    for clip in (2.0, 100.0, 0.0):
        accelerator = Accelerator(cpu=True)
        model = torch.nn.Linear(3, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[10])
        model, optimizer = accelerator.prepare(model, optimizer)
        loss = model(torch.ones(4, 3)).sum()
        norm, skipped = trainer.apply_gradients(accelerator, model, optimizer, scheduler, loss, clip)
        results[clip] = (norm, model.weight.grad.tolist(), model.bias.grad.tolist())
        assert not skipped
    norm, weight, bias = results[2.0]
    assert norm == pytest.approx(8.0) and weight == [[pytest.approx(1.0, rel=1e-6)] * 3] and bias == [pytest.approx(1.0, rel=1e-6)]
    norm, weight, bias = results[100.0]
    assert norm == pytest.approx(8.0) and weight == [[4.0, 4.0, 4.0]] and bias == [4.0]
    norm, weight, bias = results[0.0]
    assert np.isnan(norm) and weight == [[4.0, 4.0, 4.0]] and bias == [4.0]


def test_grad_clip_reaches_the_training_step(pretreated_casia, base_run, tmp_path):
    """trainer_cfg.grad_clip 0.001: after each step the parameters' gradient norm is 0.001 (the
    tiny model's is far larger before), and the norm before clipping is logged as
    scalar/grad_norm; the base run (grad_clip 0) logs none."""
    seen = []
    original = trainer.apply_gradients

    def spy(accelerator, model, optimizer, scheduler, loss, clip):
        norm, skipped = original(accelerator, model, optimizer, scheduler, loss, clip)
        grads = [p.grad.detach().flatten() for p in model.parameters() if p.grad is not None]
        seen.append((clip, norm, torch.linalg.vector_norm(torch.cat(grads)).item()))
        return norm, skipped
    _, cfg = tiny_config(tmp_path, pretreated_casia, grad_clip=0.001)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer, "apply_gradients", spy)
        train(cfg, tmp_path / "clipped")
    assert len(seen) == 2
    for clip, before, after in seen:
        assert clip == 0.001 and before > 0.01
        assert after == pytest.approx(0.001, rel=1e-4)
    logged = read_scalars(tmp_path / "clipped" / "summary")["scalar/grad_norm"]
    assert logged == {1: pytest.approx(seen[0][1], rel=1e-5), 2: pytest.approx(seen[1][1], rel=1e-5)}
    assert "scalar/grad_norm" not in read_scalars(base_run["run"] / "summary")


# --- with_test -------------------------------------------------------------------------------

def test_with_test_evaluates_at_each_save_point_and_training_goes_on(pretreated_casia, base_run, tmp_path):
    """with_test: an evaluation (eval JSON and test_accuracy scalars) at iterations 2 and 4,
    the save points, and none else; training resumes in train mode after each (the BN layers
    count 4 training batches, not 2). Off (the base run): no evaluation at all."""
    _, cfg = tiny_config(tmp_path, pretreated_casia, total_iter=4, with_test=True)
    run = tmp_path / "tested"
    train(cfg, run)
    assert sorted(p.name for p in (run / "eval").glob("*.json")) == ["00002.json", "00004.json"]
    for iteration in (2, 4):
        record = json.loads((run / "eval" / f"{iteration:05d}.json").read_text())
        assert record["iteration"] == iteration and set(record["results"]) == {"NM", "BG", "CL"}
    scalars = read_scalars(run / "summary")
    assert sorted(scalars["test_accuracy/NM"]) == [2, 4]
    counts = {int(v) for k, v in checkpoint(run, 4)["model"].items() if k.endswith("num_batches_tracked")}
    assert counts == {4}
    assert not (base_run["run"] / "eval").exists()
    assert not any(k.startswith("test_accuracy/") for k in read_scalars(base_run["run"] / "summary"))


# --- optimizer_reset / scheduler_reset -------------------------------------------------------

@pytest.mark.parametrize("optimizer_reset, scheduler_reset", [(False, False), (True, False), (False, True)])
def test_restore_keeps_or_resets_the_optimizer_and_the_scheduler(base_run, tmp_path, caplog,
                                                                 optimizer_reset, scheduler_reset):
    """Restoring the iteration-2 checkpoint (total_iter 2: load, then nothing left to train).
    Kept, the optimizer has the checkpoint's momentum buffers and learning rate 0.01 (after the
    milestone at 1) and the scheduler has taken 2 steps; reset, the optimizer has no state (and,
    with the scheduler kept, the schedule's rate) and the scheduler none of its steps. The iteration is restored either way."""
    made = {}

    def capture(build, key):
        def wrapper(*args, **kwargs):
            made[key] = build(*args, **kwargs)
            return made[key]
        return wrapper
    ckpt = checkpoint_path(base_run["run"], "test_run", 2)
    cfg = load_config(base_run["cfg_path"], [f"trainer_cfg.restore_hint={ckpt}", "trainer_cfg.total_iter=2",
                                             f"trainer_cfg.optimizer_reset={str(optimizer_reset).lower()}",
                                             f"trainer_cfg.scheduler_reset={str(scheduler_reset).lower()}"])
    with pytest.MonkeyPatch.context() as mp, caplog.at_level(logging.INFO, "opengait"):
        mp.setattr(trainer, "build_optimizer", capture(trainer.build_optimizer, "optimizer"))
        mp.setattr(trainer, "build_scheduler", capture(trainer.build_scheduler, "scheduler"))
        train(cfg, tmp_path / "restored")
    assert "already trained to iteration 2" in caplog.text
    saved = torch.load(ckpt, weights_only=True)["optimizer"]
    state = made["optimizer"].state_dict()
    if optimizer_reset:
        assert state["state"] == {}
        # the kept schedule is past its milestone: the new optimizer starts at its rate, 0.01
        # (OpenGait would restart at the configured 0.1 and MultiStepLR would keep it there)
        assert made["optimizer"].param_groups[0]["lr"] == pytest.approx(0.01)
    else:
        assert sorted(state["state"]) == sorted(saved["state"]) and len(saved["state"]) > 0
        for index, values in saved["state"].items():
            assert torch.equal(state["state"][index]["momentum_buffer"], values["momentum_buffer"])
        assert made["optimizer"].param_groups[0]["lr"] == pytest.approx(0.01)
    assert made["scheduler"].last_epoch == (0 if scheduler_reset else 2)


# --- restore_ckpt_strict ---------------------------------------------------------------------

def test_a_checkpoint_missing_a_key_is_refused_when_strict_and_loaded_when_not(base_run, tmp_path):
    """A BN running mean is deleted from the iteration-2 checkpoint. Strict (the default), the
    trainer and the test phase refuse it naming the key; not strict, the trainer loads every
    other entry and leaves that one as built (zeros)."""
    from opengait.main import test
    state = checkpoint(base_run["run"], 2)
    key = next(k for k in state["model"] if k.endswith("running_mean"))
    assert not torch.all(state["model"][key] == 0)                    # trained: not as built
    del state["model"][key]
    broken = tmp_path / "missing-key.pt"
    torch.save(state, broken)
    base = [f"trainer_cfg.restore_hint={broken}", "trainer_cfg.total_iter=2"]
    strict = load_config(base_run["cfg_path"], base)
    with pytest.raises(CheckpointError, match=rf"weights do not fit this model \(missing 1 \(e\.g\. {key}\)\)"):
        train(strict, tmp_path / "strict")
    loose = load_config(base_run["cfg_path"], base + ["trainer_cfg.restore_ckpt_strict=false"])
    model = train(loose, tmp_path / "loose")
    loaded = model.state_dict()
    assert torch.all(loaded[key] == 0)
    assert all(torch.equal(loaded[k], v) for k, v in state["model"].items())
    tested = load_config(base_run["cfg_path"], [f"evaluator_cfg.restore_hint={broken}"])
    with pytest.raises(CheckpointError, match=rf"missing 1 \(e\.g\. {key}\)"):
        test(tested, Accelerator(cpu=True), str(tmp_path / "out"))


# --- --iter ----------------------------------------------------------------------------------

def test_test_phase_iter_picks_that_iterations_checkpoint(base_run, tmp_path, capsys):
    """--phase test --iter 2 evaluates the iteration-2 checkpoint (eval/00002.json, iteration
    2); without --iter the newest, iteration 4."""
    from opengait.main import main, parse_args
    out = tmp_path / "out"
    run = out / "synthetic" / "GaitBase" / "test_run"
    shutil.copytree(base_run["run"] / "checkpoints", run / "checkpoints")
    main(parse_args(["--cfgs", str(base_run["cfg_path"]), "--phase", "test", "--iter", "2",
                     "--output_root", str(out)]))
    assert [p.name for p in (run / "eval").glob("*.json")] == ["00002.json"]
    assert json.loads((run / "eval" / "00002.json").read_text())["iteration"] == 2
    main(parse_args(["--cfgs", str(base_run["cfg_path"]), "--phase", "test", "--output_root", str(out)]))
    assert sorted(p.name for p in (run / "eval").glob("*.json")) == ["00002.json", "00004.json"]
    assert json.loads((run / "eval" / "00004.json").read_text())["iteration"] == 4
    assert capsys.readouterr().out.count("results: NM") == 2


# --- GREW evaluators end to end --------------------------------------------------------------

def grew_root(base):
    """A GREW-layout pretreated root written by hand (silhouettes only): train ids 00001train and
    00002train; test ids 00005 and 00006 with one gallery sequence (type 01) each and one probe
    (type 02) each, a third probe listed in TEST_SEQUENCES but absent; two probe/03 sequences
    of the challenge set and a third one listed but absent."""
    from gaitcore import pretreated_io as pio
    rng = np.random.default_rng(0)
    on_disk = ["00001train/00/s1", "00001train/00/s2", "00002train/00/s3", "00002train/00/s4",
               "00005/01/g1", "00006/01/g2", "00005/02/p1", "00006/02/p2", "probe/03/xYz1", "probe/03/aBc2"]
    for key in on_disk:
        sils = np.zeros((6, 64, 64), np.uint8)
        for t in range(6):
            top, left = rng.integers(2, 12), rng.integers(16, 30)
            sils[t, top:top + 50, left:left + 14] = 255
        pio.write_sequence(base / "pretreated" / key, {pio.SILHOUETTE: sils})
    test_keys = [k for k in on_disk if "train" not in k] + ["00005/02/gone", "probe/03/gone2"]
    pio.write_partition(base / "grew.json", ["00001train", "00002train"], ["00005", "00006", "probe"],
                        TEST_SEQUENCES=sorted(test_keys))
    return base


@pytest.fixture
def grew_run(tmp_path):
    """A GREW root and an (untrained) tiny GaitBase checkpoint at iteration 1 of its run."""
    from opengait.engine.checkpoint import save_checkpoint
    from opengait.engine.optim import build_optimizer, build_scheduler
    from opengait.modeling.registry import build_model
    root = grew_root(tmp_path / "grew")
    path = write_config(tmp_path / "grew.yaml", root, TINY_GAITBASE, data_cfg={"dataset_name": "GREW"},
                        evaluator_cfg={"eval_func": "evaluate_grew"})
    with open(path) as f:
        text = f.read().replace("casia_b.json", "grew.json")
    with open(path, "w") as f:
        f.write(text)
    cfg = load_config(path)
    set_seed(0)
    model = build_model(cfg.model, 2)
    optimizer = build_optimizer(model, cfg.optimizer)
    run = tmp_path / "out" / "GREW" / "GaitBase" / "test_run"
    save_checkpoint(checkpoint_path(run, "test_run", 1), model, optimizer,
                    build_scheduler(optimizer, cfg.scheduler), None, 1, 2, cfg.as_dict())
    return {"cfg_path": path, "out": tmp_path / "out", "run": run}


def test_evaluate_grew_from_a_pretreated_root(grew_run, capsys):
    """Gallery 01 (one sequence of each of the 2 ids) against probes 02: a probe's true id is
    always within the first 2 gallery sequences, so rank-5/10/20 are exactly the 2 evaluated
    probes over the 3 expected, 2/3, whatever the (untrained) model; rank-1 is a count of 0-2
    hits over 3, counted here by hand (1)."""
    from opengait.main import main, parse_args
    main(parse_args(["--cfgs", str(grew_run["cfg_path"]), "--phase", "test", "--output_root", str(grew_run["out"])]))
    record = json.loads((grew_run["run"] / "eval" / "00001.json").read_text())
    assert record["eval_func"] == "evaluate_grew" and record["sequences"] == 6
    results = record["results"]
    assert set(results) == {"Rank-1", "Rank-5", "Rank-10", "Rank-20"}
    assert results["Rank-5"] == results["Rank-10"] == results["Rank-20"] == pytest.approx(2 / 3, abs=1e-12)
    # Rank-1 by hand: embed the two gallery and two probe sequences through the identify tool's
    # embedder (not the evaluator), and count the probes whose nearest gallery sequence (the mean
    # over parts of the per-part Euclidean distance) has their id; the absent probe is a miss.
    from gaitcore.pretreated_io import read_sequence
    from opengait.engine.sequence_embedding import SequenceEmbedder
    embedder = SequenceEmbedder(grew_run["cfg_path"], checkpoint_path(grew_run["run"], "test_run", 1),
                                ["data_cfg.data_in_use=[false, true, false]"], device="cpu")  # silhouettes only
    root = Path(grew_run["cfg_path"]).parent / "grew" / "pretreated"
    embedded = {k: embedder.embed(read_sequence(root / k)) for k in ("00005/01/g1", "00006/01/g2",
                                                                       "00005/02/p1", "00006/02/p2")}
    hits = 0
    for probe in ("00005/02/p1", "00006/02/p2"):
        distance = {g: np.linalg.norm(embedded[probe] - embedded[g], axis=0).mean() for g in ("00005/01/g1", "00006/01/g2")}
        hits += min(distance, key=distance.get)[:5] == probe[:5]
    assert hits == 1 and results["Rank-1"] == pytest.approx(1 / 3, abs=1e-12)   # nearest gallery 30% apart
    assert record["coverage"] == {"probes": {"evaluated": 2, "expected": 3}}
    assert "results: Rank-1" in capsys.readouterr().out


def test_grew_submission_from_a_pretreated_root(grew_run):
    """The challenge file: one row per probe/03 sequence of TEST_SEQUENCES, in that order; a
    present probe ranks the 4 gallery sequences (types 01 and 02: ids 5, 6, 5, 6), the absent
    one gets the most frequent gallery ids (5 and 6, twice each: first seen first)."""
    import csv
    from opengait.main import main, parse_args
    main(parse_args(["--cfgs", str(grew_run["cfg_path"]), "--phase", "test", "--output_root", str(grew_run["out"]),
                     "--set", "evaluator_cfg.eval_func=grew_submission"]))
    files = list((grew_run["run"] / "GREW_result").glob("*.csv"))
    assert len(files) == 1
    table = list(csv.reader(files[0].open()))
    assert table[0] == ["videoId"] + [f"rank{i}" for i in range(1, 21)]
    assert [row[0] for row in table[1:]] == ["aBc2", "gone2", "xYz1"]        # TEST_SEQUENCES order
    for row in (table[1], table[3]):
        assert sorted(row[1:]) == ["5", "5", "6", "6"]
    assert table[2] == ["gone2", "5", "6"]
    record = json.loads((grew_run["run"] / "eval" / "00001.json").read_text())
    assert record["coverage"] == {"probes": {"evaluated": 2, "expected": 3}}
    assert any("1 probe(s) without features (e.g. gone2)" in n for n in record["notes"])
    assert any("the gallery has 4 sequences, fewer than the 20 ranks" in n for n in record["notes"])
