"""Every shipped experiment file loads, builds its model and takes one (tiny) training step."""
from __future__ import annotations


import pytest
import torch

from conftest import REPO_ROOT
from opengait.config import load_config
from opengait.data.transforms import build_transform
from opengait.engine.optim import build_optimizer, build_scheduler
from opengait.modeling.losses import LossAggregator
from opengait.modeling.registry import build_model

CONFIGS = sorted(p.relative_to(REPO_ROOT) for folder in ("opengait/configs", "opengait_ccvid/configs")
                 for p in (REPO_ROOT / folder).rglob("*.yaml")
                 if p.name != "default.yaml")


def test_configs_are_found():
    names = {p.name for p in CONFIGS}
    for model in ("gaitbase/gaitbase", "skeletongait/skeletongait++", "deepgaitv2/deepgaitv2"):
        for dataset in ("casia_b", "grew", "synthetic"):
            assert f"{model.split('/')[1]}_{dataset}.yaml" in names
    assert {"skeletongait_synthetic.yaml", "gaitgraph2_synthetic.yaml", "gaitgraph2_casia_b.yaml"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=str)
def test_config_builds_and_steps(path):
    cfg = load_config(REPO_ROOT / path)
    sampler = cfg.trainer.sampler
    if cfg.model["model"] == "GaitGraph2" and "synthetic" not in path.name:   # OpenGait's setting
        from opengait_configs import CONFIGS as OPENGAIT
        theirs = OPENGAIT["gaitgraph2/gaitgraph2"]
        assert cfg.model == theirs["model_cfg"] and cfg.losses == theirs["loss_cfg"]
        assert cfg.optimizer == theirs["optimizer_cfg"] and cfg.scheduler == theirs["scheduler_cfg"]
        assert cfg.trainer.transform == theirs["trainer_cfg"]["transform"][0]["trf_cfg"]
        assert {k: cfg.trainer.sampler[k] for k in ("type", "batch_size", "frames_num_fixed")} == \
            {k: theirs["trainer_cfg"]["sampler"][k] for k in ("type", "batch_size", "frames_num_fixed")}
    elif "synthetic" not in path.name:  # the reference setup of the shipped real-data configs
        assert cfg.trainer.enable_float16 is True
        assert sampler["sample_type"] == "fixed_ordered" and sampler["frames_num_fixed"] == 30
        assert sampler["frames_skip_num"] == 4
        assert cfg.evaluator.sampler["frames_all_limit"] == 720
    model = build_model(cfg.model, 10)
    transform = build_transform(cfg.trainer.transform, "trainer_cfg.transform")
    import numpy as np
    rng = np.random.default_rng(0)
    data = transform({"0_heatmap": rng.integers(0, 255, (3, 2, 64, 64), dtype=np.uint8),
                      "1_sil": rng.integers(0, 255, (3, 64, 64), dtype=np.uint8),
                      "2_pose": rng.random((3, 17, 3), dtype=np.float32)}, rng)
    use = cfg.data.data_in_use or [True, True, True]
    # Four sequences of two ids (two different clips each), so both the triplet loss and the
    # contrastive loss see positives and negatives.
    other = transform({"0_heatmap": rng.integers(0, 255, (3, 2, 64, 64), dtype=np.uint8),
                       "1_sil": rng.integers(0, 255, (3, 64, 64), dtype=np.uint8),
                       "2_pose": rng.random((3, 17, 3), dtype=np.float32)}, rng)
    inputs = {name: torch.as_tensor(np.stack([data[name], other[name], other[name], data[name]]),
                                    dtype=torch.float32)
              for name, on in zip(("0_heatmap", "1_sil", "2_pose"), use) if on}
    labels = torch.tensor([0, 0, 1, 1])
    losses = LossAggregator(cfg.losses)
    optimizer = build_optimizer(model, cfg.optimizer)
    build_scheduler(optimizer, cfg.scheduler)
    out = model(inputs, None, torch.arange(3).repeat(4, 1), labels)
    loss, info = losses(out["training_feat"])
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and loss > 0
    assert {f"scalar/{spec['log_prefix']}/loss" for spec in cfg.losses} <= set(info)
