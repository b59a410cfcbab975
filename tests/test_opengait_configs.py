"""OpenGait's own GaitBase, SkeletonGait++, DeepGaitV2, SkeletonGait and GaitGraph2 experiment
files run here with only the data paths changed (their settings: tests/opengait_configs.py)."""
from __future__ import annotations

import json

import pytest
import torch
import yaml

from conftest import run_script
from opengait.config import load_config
from opengait.engine.optim import check_solver_settings
from opengait.evaluation.evaluators import check_evaluator_config
from opengait.modeling.registry import build_model
from opengait_configs import CONFIGS


def write(cfg: dict, path, root, partition) -> str:
    cfg = json.loads(json.dumps(cfg))
    cfg["data_cfg"]["dataset_root"], cfg["data_cfg"]["dataset_partition"] = str(root), str(partition)
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def example_inputs(cfg: dict) -> dict:
    """One 3-frame sequence of what the configured model reads (GaitGraph2: its multi-input
    keypoints, 17 or 18 joints by joint_format)."""
    from opengait.modeling.registry import model_inputs
    reads = model_inputs(cfg.model)
    if reads == ("2_pose",):
        joints = 18 if cfg.model["joint_format"] == "alphapose" else 17
        return {"2_pose": torch.rand(1, 12, joints, 3, 5)}
    inputs = {"1_sil": torch.rand(1, 3, 64, 44), "0_heatmap": torch.rand(1, 3, 2, 64, 44)}
    return {k: v for k, v in inputs.items() if k in reads}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_opengait_config_loads_checks_and_builds(name, tmp_path):
    cfg = load_config(write(CONFIGS[name], tmp_path / "c.yaml", tmp_path, tmp_path / "p.json"))
    check_evaluator_config(cfg)                             # the protocol exists for this dataset
    check_solver_settings(cfg.optimizer, cfg.scheduler)     # the optimizer and scheduler build
    classes = (cfg.model.get("SeparateBNNecks") or {}).get("class_num", 74)
    model = build_model(cfg.model, classes).eval()
    with torch.no_grad():
        out = model(example_inputs(cfg))
    if cfg.model["model"] == "GaitGraph2":           # 128-d, three test-time views
        assert out["inference_feat"]["embeddings"].shape == (1, 3 * 128, 1)
        assert set(out["training_feat"]) == {"SupConLoss"}
    else:
        assert out["inference_feat"]["embeddings"].shape == (1, 256, 16)
        assert out["training_feat"]["softmax"]["logits"].shape == (1, classes, 16)
    assert set(out["training_feat"]) == {spec["log_prefix"] for spec in cfg.losses}


@pytest.mark.slow
def test_opengaits_gaitbase_casia_b_file_trains_and_tests(opengait_root, tmp_path):
    """gaitbase_da_casiab on an OpenGait-named root; on a CPU the batch, the frames and the
    iteration counts are cut (--set), nothing else."""
    cfg = write(CONFIGS["gaitbase/gaitbase_da_casiab"], tmp_path / "gaitbase_da_casiab.yaml",
                opengait_root / "pretreated", opengait_root / "casia_b.json")
    cpu = ["--set", "trainer_cfg.total_iter=2", "--set", "trainer_cfg.save_iter=2",
           "--set", "trainer_cfg.sampler.batch_size=[2,2]", "--set", "trainer_cfg.sampler.frames_num_fixed=8",
           "--set", "evaluator_cfg.sampler.frames_all_limit=8", "--set", "evaluator_cfg.restore_hint=2"]
    run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out", *cpu)
    test = run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "test", "--output_root",
                      tmp_path / "out", *cpu)
    assert "results: NM" in test.stdout and "CL" in test.stdout
    assert (tmp_path / "out/CASIA-B/Baseline/GaitBase_DA/checkpoints/GaitBase_DA-00002.pt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name, model", [("deepgaitv2/deepgaitv2_synthetic.yaml", "DeepGaitV2"),
                                         ("skeletongait/skeletongait_synthetic.yaml", "DeepGaitV2"),
                                         ("gaitgraph2/gaitgraph2_synthetic.yaml", "GaitGraph2")])
def test_shipped_synthetic_configs_train_log_and_test(name, model, pretreated_casia, tmp_path):
    """The two commands of docs/training.md on a synthetic root (a few iterations): checkpoints, the
    TensorBoard scalars of the loss and the learning rate, and every test probe evaluated."""
    from conftest import read_scalars
    paths = ["--set", f"data_cfg.dataset_root={pretreated_casia / 'pretreated'}",
             "--set", f"data_cfg.dataset_partition={pretreated_casia / 'casia_b.json'}",
             "--set", "trainer_cfg.total_iter=4", "--set", "trainer_cfg.save_iter=4",
             "--set", "trainer_cfg.log_iter=2", "--output_root", tmp_path]
    if model != "GaitGraph2":                      # (the fixture has 3 training ids)
        paths += ["--set", "trainer_cfg.sampler.batch_size=[3,2]"]
    cfg = f"opengait/configs/{name}"
    run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "train", *paths)
    test = run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "test", *paths)
    assert test.stdout.startswith("results: NM")
    run = next(p for p in (tmp_path / "synthetic_casia_b" / model).iterdir() if p.is_dir())
    record = json.loads((run / "eval" / "00004.json").read_text())
    assert all(c["evaluated"] == c["expected"] > 0 for c in record["coverage"].values())
    scalars = read_scalars(run / "summary")
    loss_tag = "scalar/SupConLoss/loss" if model == "GaitGraph2" else "scalar/triplet/loss"
    assert set(scalars[loss_tag]) == {2, 4} and set(scalars["scalar/learning_rate"]) == {2, 4}
    assert set(scalars["test_accuracy/NM"]) == {4}


@pytest.mark.slow
def test_opengaits_skeletongait_and_gaitgraph2_files_run_on_our_root(pretreated_casia, tmp_path):
    """skeletongait_OUMVLP (DeepGaitV2 on skeleton maps, data_in_use [True, False]: our
    0_heatmap.pkl) and gaitgraph2 (no data_in_use: the keypoints, 2_pose.pkl) as OpenGait ships
    them; only the data paths, the CPU-sized batch, frames and iterations (--set), and for the
    first the test protocol (OUMVLP's does not fit a CASIA-B layout) are changed."""
    root, partition = pretreated_casia / "pretreated", pretreated_casia / "casia_b.json"
    runs = {"skeletongait/skeletongait_OUMVLP": (["--set", "trainer_cfg.sampler.batch_size=[2,2]",
                                                  "--set", "trainer_cfg.sampler.frames_num_fixed=8",
                                                  "--set", "evaluator_cfg.sampler.frames_all_limit=8",
                                                  "--set", "evaluator_cfg.eval_func=evaluate_casia_b"],
                                                 "OUMVLP/DeepGaitV2/SkeletonGait"),
            "gaitgraph2/gaitgraph2": (["--set", "trainer_cfg.sampler.batch_size=16",
                                       "--set", "evaluator_cfg.sampler.batch_size=16"],
                                      "CASIA-B/GaitGraph2/GaitGraph2")}
    for name, (cpu, folder) in runs.items():
        cfg = write(CONFIGS[name], tmp_path / f"{name.split('/')[1]}.yaml", root, partition)
        common = ["--set", "trainer_cfg.total_iter=2", "--set", "trainer_cfg.save_iter=2",
                  "--set", "trainer_cfg.restore_hint=0", "--set", "evaluator_cfg.restore_hint=2",
                  "--output_root", tmp_path / "out", *cpu]
        run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "train", *common)
        test = run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "test", *common)
        assert "results: NM" in test.stdout and "CL" in test.stdout, name
        saved = json.loads((tmp_path / "out" / folder / "eval" / "00002.json").read_text())
        assert all(c["evaluated"] == c["expected"] > 0 for c in saved["coverage"].values()), name
