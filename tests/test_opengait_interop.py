"""Data and checkpoints move both ways between this project and OpenGait."""
from __future__ import annotations

import json
from pathlib import Path
import pickle
import shutil

import numpy as np
import pytest

from conftest import run_script, write_config
from gaitcore.pretreated_io import list_sequences

MAIN = "opengait/opengait/main.py"
VALIDATE = "datasets_preprocess/validate_pretreated.py"
TINY_GAITBASE = {"model": "GaitBase", "backbone_cfg": {"channels": [8, 16, 32, 64]},
                 "SeparateFCs": {"in_channels": 64, "out_channels": 32, "parts_num": 8},
                 "bin_num": [8]}


def test_our_files_are_what_opengaits_loader_reads(pretreated_casia):
    """OpenGait's DataSet opens each .pkl with plain pickle and takes them in sorted order."""
    ref = list_sequences(pretreated_casia / "pretreated")[0]
    assert list(ref.files) == sorted(ref.files) == ["0_heatmap.pkl", "1_sil.pkl", "2_pose.pkl"]
    loaded = []
    for name in ref.files:
        with open(ref.path / name, "rb") as f:
            loaded.append(pickle.load(f))
    assert [a.dtype for a in loaded] == [np.uint8, np.uint8, np.float32]
    assert loaded[0].shape[1:] == (2, 64, 64) and loaded[1].shape[1:] == (64, 64)
    assert len({len(a) for a in loaded}) == 1


@pytest.mark.slow
def test_an_opengait_named_root_validates_trains_and_evaluates(opengait_root, tmp_path):
    result = run_script(VALIDATE, "--root", opengait_root / "pretreated",
                        "--partition", opengait_root / "casia_b.json")
    assert "0 broken" in result.stdout and "identified by content" in result.stderr
    assert "position 0: 1_sil" in result.stderr
    cfg = write_config(tmp_path / "og.yaml", opengait_root, TINY_GAITBASE,
                       trainer_cfg={"total_iter": 4, "save_iter": 4})
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out")
    test = run_script(MAIN, "--cfgs", cfg, "--phase", "test", "--output_root", tmp_path / "out")
    assert "results: NM" in test.stdout
    record = json.loads((tmp_path / "out/synthetic/GaitBase/test_run/eval/00004.json").read_text())
    assert set(record["results"]) == {"NM", "BG", "CL"}
    assert record["coverage"]["NM"]["evaluated"] == record["coverage"]["NM"]["expected"] > 0


@pytest.mark.slow
def test_validator_and_trainer_refuse_the_same_broken_root(opengait_root, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(opengait_root, root)
    seq = next((root / "pretreated" / "001").rglob("*.pkl")).parent         # a training id
    (seq / "extra.pkl").write_bytes((seq / f"{seq.name}.pkl").read_bytes())
    result = run_script(VALIDATE, "--root", root / "pretreated", check=False)
    assert result.returncode == 1 and "2 .pkl files" in result.stderr and "1 broken" in result.stdout
    cfg = write_config(tmp_path / "og.yaml", root, TINY_GAITBASE, trainer_cfg={"total_iter": 2})
    train = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out",
                       check=False)
    assert train.returncode == 2 and "2 .pkl files" in train.stderr and "Traceback" not in train.stderr


def og_names():
    return json.loads((Path(__file__).parent / "opengait_state_dict_keys.json").read_text())


@pytest.mark.parametrize("family, cfg", [
    ("gaitbase", {"model": "Baseline", "SeparateBNNecks": {"class_num": 74}}),
    ("sgpp", {"model": "SkeletonGaitPP", "SeparateBNNecks": {"class_num": 74}})])
def test_opengait_parameter_names_map_onto_ours(family, cfg):
    """The key list was read off OpenGait's own Baseline / SkeletonGaitPP (published sizes):
    every name maps to one of ours with the same shape, and nothing of ours is left over."""
    from opengait.engine.checkpoint import opengait_to_ours
    from opengait.modeling.registry import build_model
    ours = {k: list(v.shape) for k, v in build_model(cfg, 74).state_dict().items()}
    mapped = {opengait_to_ours(k, cfg): shape for k, shape in og_names()[family]}
    assert len(mapped) == len(og_names()[family]) and mapped == ours


def write_opengait_checkpoint(ours_ckpt, path, family="gaitbase", cfg=None):
    """Our checkpoint re-written in OpenGait's layout and names (what its save_ckpt writes)."""
    import torch
    from opengait.engine.checkpoint import opengait_to_ours
    cfg = cfg or {"model": "GaitBase"}
    to_og = {opengait_to_ours(k, cfg): k for k, _ in og_names()[family]}
    state = torch.load(ours_ckpt, weights_only=True)
    torch.save({"model": {to_og[k]: v for k, v in state["model"].items()},
                "optimizer": state["optimizer"], "scheduler": state["scheduler"], "iteration": 4}, path)


@pytest.mark.slow
def test_an_opengait_checkpoint_tests_identifies_and_fine_tunes(pretreated_casia, tmp_path):
    cfg = write_config(tmp_path / "gb.yaml", pretreated_casia, TINY_GAITBASE,
                       data_cfg={"data_in_use": [False, True, False]},
                       trainer_cfg={"total_iter": 4, "save_iter": 4})
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out")
    run = tmp_path / "out/synthetic/GaitBase/test_run"
    ours = run_script(MAIN, "--cfgs", cfg, "--phase", "test", "--output_root", tmp_path / "out")
    og_ckpt = tmp_path / "GaitBase-00004.pt"
    write_opengait_checkpoint(run / "checkpoints/test_run-00004.pt", og_ckpt)
    theirs = run_script(MAIN, "--cfgs", cfg, "--phase", "test", "--output_root", tmp_path / "og",
                        "--set", f"evaluator_cfg.restore_hint={og_ckpt}")
    assert "an OpenGait checkpoint" in theirs.stderr
    assert theirs.stdout.splitlines()[0] == ours.stdout.splitlines()[0]          # same results
    # The identify tools' loader takes it too and embeds exactly as our checkpoint does.
    from opengait.engine.sequence_embedding import SequenceEmbedder
    a = SequenceEmbedder(cfg, run / "checkpoints/test_run-00004.pt", device="cpu").model.state_dict()
    b = SequenceEmbedder(cfg, og_ckpt, device="cpu").model.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    # Fine-tuning from it starts at iteration 0 with a new optimizer.
    tune = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "tune",
                      "--set", f"trainer_cfg.restore_hint={og_ckpt}", "--set", "trainer_cfg.total_iter=2",
                      "--set", "trainer_cfg.save_iter=2")
    assert "at iteration 0 with a new optimizer" in tune.stderr
    # Another model's config refuses it with one line.
    sgpp = write_config(tmp_path / "sg.yaml", pretreated_casia,
                        {"model": "SkeletonGaitPP", "Backbone": {"blocks": [1, 1, 1, 1], "C": 0.25},
                         "bin_num": [8]}, data_cfg={"data_in_use": [True, True, False]})
    wrong = run_script(MAIN, "--cfgs", sgpp, "--phase", "test", "--output_root", tmp_path / "og",
                       "--set", f"evaluator_cfg.restore_hint={og_ckpt}", check=False)
    assert wrong.returncode == 2 and "weights do not fit this model" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_non_strict_restore_loads_what_fits(tmp_path, caplog):
    import torch
    from gaitcore.errors import CheckpointError
    from opengait.engine.checkpoint import load_model_weights
    from opengait.modeling.registry import build_model
    source, target = build_model(TINY_GAITBASE, 5), build_model(TINY_GAITBASE, 7)   # other class count
    state = {"model": source.state_dict()}
    with pytest.raises(CheckpointError, match=r"wrong shape 1 \(e.g. bnnecks.fc_bin\)"):
        load_model_weights(target, state, tmp_path / "x.pt", strict=True)
    load_model_weights(target, state, tmp_path / "x.pt", strict=False)
    got = target.state_dict()
    assert torch.equal(got["fcs.fc_bin"], source.state_dict()["fcs.fc_bin"])
    assert got["bnnecks.fc_bin"].shape[-1] == 7 and "left as built" in caplog.text


@pytest.mark.fault_injection
def test_checkpoints_of_another_model_or_class_count(tmp_path, caplog):
    """restore_ckpt_strict: false loads the weights that fit by name and shape, whatever model
    saved them (none fitting is an error, nothing half-loaded); a configured class_num that differs
    from the checkpoint's classifier is named as such."""
    import torch
    from gaitcore.errors import CheckpointError
    from opengait.engine.checkpoint import model_from_checkpoint, save_checkpoint
    from opengait.modeling.registry import build_model
    sgpp_cfg = {"model": "SkeletonGaitPP", "Backbone": {"blocks": [1, 1, 1, 1], "C": 0.25}, "bin_num": [8]}
    hybrid_cfg = {**sgpp_cfg, "model": "HybridGait", "pose_channels": [8, 16], "num_heads": 2, "head_dim": 8}
    source = build_model(sgpp_cfg, 5)
    opt = torch.optim.SGD(source.parameters(), lr=0.1)
    path = tmp_path / "sgpp-00004.pt"
    save_checkpoint(path, source, opt, None, None, 4, 5, {"model_cfg": sgpp_cfg})
    with pytest.raises(CheckpointError, match="saved by model 'SkeletonGaitPP', but this config builds 'HybridGait'"):
        model_from_checkpoint(hybrid_cfg, path, strict=True)
    hybrid, _ = model_from_checkpoint(hybrid_cfg, path, strict=False)
    key = "backbone.sil_stem.block.0.weight"
    assert torch.equal(hybrid.state_dict()[key], source.state_dict()[key]) and "left as built" in caplog.text
    graph_cfg = {"model": "GaitGraph2", "input_branch": [5, 16, 8], "main_stream": [8, 16, 32], "num_class": 8}
    graph = tmp_path / "gaitgraph2-00004.pt"
    save_checkpoint(graph, build_model(graph_cfg, 5), opt, None, None, 4, 5, {"model_cfg": graph_cfg})
    with pytest.raises(CheckpointError, match="none of the checkpoint's 329 weights fits this model"):
        model_from_checkpoint(TINY_GAITBASE, graph, strict=False)
    # An OpenGait checkpoint (its classifier sized by its 5 training ids) under a config that says 74.
    foreign = tmp_path / "SkeletonGaitPP-00004.pt"
    torch.save({"model": source.state_dict(), "iteration": 4}, foreign)
    with pytest.raises(CheckpointError, match="the checkpoint's classifier has 5 classes, but "
                                          "model_cfg.SeparateBNNecks.class_num is 74"):
        model_from_checkpoint({**sgpp_cfg, "SeparateBNNecks": {"class_num": 74}}, foreign, strict=True)
