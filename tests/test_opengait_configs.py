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
    reads = model_inputs(cfg["model_cfg"])
    if reads == ("2_pose",):
        joints = 18 if cfg["model_cfg"]["joint_format"] == "alphapose" else 17
        return {"2_pose": torch.rand(1, 12, joints, 3, 5)}
    inputs = {"1_sil": torch.rand(1, 3, 64, 44), "0_heatmap": torch.rand(1, 3, 2, 64, 44)}
    return {k: v for k, v in inputs.items() if k in reads}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_opengait_config_loads_checks_and_builds(name, tmp_path):
    cfg = load_config(write(CONFIGS[name], tmp_path / "c.yaml", tmp_path, tmp_path / "p.json"))
    check_evaluator_config(cfg)                             # the protocol exists for this dataset
    check_solver_settings(cfg)                              # the optimizer and scheduler build
    classes = (cfg["model_cfg"].get("SeparateBNNecks") or {}).get("class_num", 74)
    model = build_model(cfg["model_cfg"], classes).eval()
    with torch.no_grad():
        out = model(example_inputs(cfg))
    if cfg["model_cfg"]["model"] == "GaitGraph2":           # 128-d, three test-time views
        assert out["inference_feat"]["embeddings"].shape == (1, 3 * 128, 1)
        assert set(out["training_feat"]) == {"SupConLoss"}
    else:
        assert out["inference_feat"]["embeddings"].shape == (1, 256, 16)
        assert out["training_feat"]["softmax"]["logits"].shape == (1, classes, 16)
    assert set(out["training_feat"]) == {spec["log_prefix"] for spec in cfg["loss_cfg"]}


@pytest.mark.slow
def test_opengaits_gaitbase_casia_b_file_trains_and_tests(opengait_root, tmp_path):
    """gaitbase_da_casiab on an OpenGait-named root; on a CPU the batch and the iteration counts
    are cut (--set), nothing else."""
    cfg = write(CONFIGS["gaitbase/gaitbase_da_casiab"], tmp_path / "gaitbase_da_casiab.yaml",
                opengait_root / "pretreated", opengait_root / "casia_b.json")
    cpu = ["--set", "trainer_cfg.total_iter=2", "--set", "trainer_cfg.save_iter=2",
           "--set", "trainer_cfg.sampler.batch_size=[2,2]", "--set", "evaluator_cfg.restore_hint=2"]
    run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out", *cpu)
    test = run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "test", "--output_root",
                      tmp_path / "out", *cpu)
    assert "results: NM" in test.stdout and "CL" in test.stdout
    assert (tmp_path / "out/CASIA-B/Baseline/GaitBase_DA/checkpoints/GaitBase_DA-00002.pt").exists()
