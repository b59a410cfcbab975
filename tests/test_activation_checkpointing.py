"""Activation checkpointing (``model_cfg.checkpoint_stages``): the same losses, gradients,
BatchNorm statistics and embeddings as the plain model, with less memory kept for backward."""
from __future__ import annotations


import pytest
import torch

from gaitcore.errors import CheckpointError, ConfigError
from opengait.engine.memory import activation_bytes
from opengait.modeling.losses import LossAggregator
from opengait.modeling.registry import build_model

LOSSES = [{"type": "TripletLoss", "margin": 0.2, "log_prefix": "triplet"},
          {"type": "CrossEntropyLoss", "scale": 16, "label_smooth": True, "log_prefix": "softmax"}]
MODELS = {
    "GaitBase": {"model": "Baseline", "backbone_cfg": {"channels": [8, 16, 32, 64]},
                 "SeparateFCs": {"out_channels": 16}, "bin_num": [8]},
    "SkeletonGait++": {"model": "SkeletonGait++", "Backbone": {"blocks": [1, 2, 2, 1], "C": 0.25},
                       "bin_num": [8]},
    "HybridGait": {"model": "HybridGait", "Backbone": {"blocks": [1, 2, 2, 1], "C": 0.25}, "bin_num": [8],
                   "pose_channels": [8, 16], "num_heads": 2, "head_dim": 8},
    **{f"DeepGaitV2-{mode}": {"model": "DeepGaitV2", "bin_num": [8],
                             "Backbone": {"mode": mode, "layers": [1, 2, 2, 1], "channels": [8, 8, 16, 16]}}
       for mode in ("2d", "p3d", "3d")},
    "SkeletonGait": {"model": "DeepGaitV2", "bin_num": [8], "use_emb2": True,
                     "Backbone": {"in_channels": 2, "layers": [1, 2, 2, 1], "channels": [8, 8, 16, 16]}},
}


def batch(n_ids=2, k=2, frames=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = n_ids * k
    pose = torch.rand(n, frames, 17, 3, generator=g) * 60
    pose[..., 2] = 0.9
    lengths = torch.tensor([frames] * (n - 1) + [frames - 2])       # one padded sequence
    return {"inputs": {"0_heatmap": torch.rand(n, frames, 2, 32, 22, generator=g),
                       "1_sil": (torch.rand(n, frames, 32, 22, generator=g) > 0.5).float(),
                       "2_pose": pose},
            "labels": torch.arange(n_ids).repeat_interleave(k), "lengths": lengths,
            "frames": torch.arange(frames).repeat(n, 1)}


def pair(name, stages):
    torch.manual_seed(0)
    plain = build_model(MODELS[name], 5)
    ckpt = build_model({**MODELS[name], "checkpoint_stages": stages}, 5)
    ckpt.load_state_dict(plain.state_dict())
    return plain, ckpt


def step(model, b, autocast=None):
    model.train()
    model.zero_grad(set_to_none=True)
    with (autocast or torch.autocast("cpu", enabled=False)):
        out = model(b["inputs"], b["lengths"], b["frames"], b["labels"])
        loss, _ = LossAggregator(LOSSES)(out["training_feat"])
    loss.backward()
    return loss.detach(), out["training_feat"]["triplet"]["embeddings"].detach()


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("stages", [[1, 2, 3, 4], [2, 3]])
def test_checkpointed_model_equals_the_plain_one(name, stages):
    plain, ckpt = pair(name, stages)
    b = batch()
    for _ in range(2):                                   # two steps: BN statistics move twice
        (l1, e1), (l2, e2) = step(plain, b), step(ckpt, b)
        assert torch.allclose(l1, l2, rtol=1e-6, atol=1e-6), (l1, l2)
        assert torch.allclose(e1, e2, rtol=1e-5, atol=1e-6)
        g1, g2 = dict(plain.named_parameters()), dict(ckpt.named_parameters())
        for key, p in g1.items():
            if p.grad is None:
                assert g2[key].grad is None, key
                continue
            assert torch.allclose(p.grad, g2[key].grad, rtol=1e-4, atol=1e-6), key
        with torch.no_grad():                            # the same SGD step on both
            for p, q in zip(plain.parameters(), ckpt.parameters()):
                if p.grad is not None:
                    p -= 0.1 * p.grad
                    q -= 0.1 * q.grad
    # The recomputation in backward did not update the running statistics a second time.
    for (key, b1), b2 in zip(plain.named_buffers(), ckpt.buffers()):
        assert torch.allclose(b1.float(), b2.float(), rtol=1e-5, atol=1e-6), key
    plain.eval(), ckpt.eval()
    with torch.no_grad():
        x = batch(seed=1)
        e1 = plain(x["inputs"], x["lengths"], x["frames"])["inference_feat"]["embeddings"]
        e2 = ckpt(x["inputs"], x["lengths"], x["frames"])["inference_feat"]["embeddings"]
    assert torch.allclose(e1, e2, rtol=1e-5, atol=1e-6)


def test_checkpointing_under_autocast_matches_the_plain_model():
    plain, ckpt = pair("SkeletonGait++", [1, 2, 3, 4])
    b = batch()
    (l1, _), (l2, _) = (step(m, b, torch.autocast("cpu", torch.bfloat16)) for m in (plain, ckpt))
    assert torch.allclose(l1, l2, rtol=1e-3, atol=1e-3), (l1, l2)
    for p, q in zip(plain.parameters(), ckpt.parameters()):
        if p.grad is not None:
            assert torch.allclose(p.grad, q.grad, rtol=2e-2, atol=1e-3)


@pytest.mark.parametrize("name", list(MODELS))
def test_checkpointing_keeps_less_for_backward(name):
    plain, ckpt = pair(name, [1, 2, 3, 4])
    losses = LossAggregator(LOSSES)
    b = batch(frames=10)
    before, after = activation_bytes(plain, losses, b), activation_bytes(ckpt, losses, b)
    assert after < 0.5 * before, (before, after)


@pytest.mark.parametrize("stages", [[0], [5], ["1"], [True], "all"])
def test_bad_checkpoint_stages_are_refused(stages):
    with pytest.raises(ConfigError, match="checkpoint_stages"):
        build_model({**MODELS["SkeletonGait++"], "checkpoint_stages": stages}, 5)


def test_checkpoint_stages_without_the_visual_branch_are_refused():
    cfg = {**MODELS["HybridGait"], "visual_branch": False, "checkpoint_stages": [2]}
    with pytest.raises(ConfigError, match="visual_branch: false"):
        build_model(cfg, 5)


@pytest.mark.parametrize("name", list(MODELS))
def test_channels_last_keeps_values_and_outputs(name):
    """model_cfg.channels_last: every 4-D convolution weight laid out NHWC and every 5-D one
    NDHWC, with the same values; embeddings equal the plain layout's (fp32, ~1e-5: other kernels)
    and the state dict loads into a plain model."""
    torch.manual_seed(0)
    plain = build_model(MODELS[name], 5)
    torch.manual_seed(0)
    fast = build_model({**MODELS[name], "channels_last": True}, 5)
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    relaid = 0                     # (a weight with one input channel is both layouts at once)
    for (key, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        assert torch.equal(a, b), key
        if b.ndim in formats:
            assert b.is_contiguous(memory_format=formats[b.ndim]), key
            relaid += not a.is_contiguous(memory_format=formats[b.ndim])
    assert relaid > 0
    plain.eval(), fast.eval()
    b = batch()
    with torch.no_grad():
        want = plain(b["inputs"], b["lengths"], b["frames"])["inference_feat"]["embeddings"]
        got = fast(b["inputs"], b["lengths"], b["frames"])["inference_feat"]["embeddings"]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    build_model(MODELS[name], 5).load_state_dict(fast.state_dict())


def test_runtime_switches_do_not_block_a_strict_restore(tmp_path):
    """checkpoint_stages and channels_last change how the model runs, not its weights: a
    checkpoint saved with one setting loads under restore_ckpt_strict with another; a real
    architecture change is still refused."""
    from opengait.engine.checkpoint import load_checkpoint, save_checkpoint
    model = build_model(MODELS["GaitBase"], 5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cfg = {"model_cfg": dict(MODELS["GaitBase"])}
    path = tmp_path / "c.pt"
    save_checkpoint(path, model, opt, torch.optim.lr_scheduler.StepLR(opt, 1), None, 1, 5, cfg)
    load_checkpoint(path, {**MODELS["GaitBase"], "checkpoint_stages": [1, 2], "channels_last": True})
    with pytest.raises(CheckpointError, match="differs in: bin_num"):
        load_checkpoint(path, {**MODELS["GaitBase"], "bin_num": [4]})


def test_channels_last_must_be_a_bool():
    from opengait.modeling.registry import check_model_config
    with pytest.raises(ConfigError, match="model_cfg.channels_last: 'yes', expected true or false"):
        check_model_config({**MODELS["GaitBase"], "channels_last": "yes"})
