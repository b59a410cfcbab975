"""HybridGait: ΔJoint, UL weighting, the attention function, ablation switches, equivalence
with SkeletonGait++, and training from its config on synthetic data."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import read_scalars, run_script, write_config
from opengait.config import ConfigError
from opengait.modeling import attention as attn_mod
from opengait.modeling.losses import LossAggregator
from opengait.modeling.pose_branch import delta_joint, sort_by_original_order
from opengait.modeling.registry import build_model

TINY = {"model": "HybridGait", "Backbone": {"blocks": [1, 1, 1, 1], "C": 0.25}, "bin_num": [8],
        "pose_channels": [8, 16], "num_heads": 2, "head_dim": 8}
LOSSES = [{"type": "TripletLoss", "log_prefix": "triplet"},
          {"type": "CrossEntropyLoss", "log_prefix": "softmax"}]


def inputs(n=4, s=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    pose = torch.rand(n, s, 17, 3, generator=g) * 100
    pose[..., 2] = 0.9
    return {"1_sil": torch.rand(n, s, 32, 22, generator=g),
            "0_heatmap": torch.rand(n, s, 2, 32, 22, generator=g), "2_pose": pose}


def test_delta_joint_on_linear_motion_gaps_and_original_order():
    t = torch.arange(6, dtype=torch.float32)
    x = (3.0 * t).view(1, 6, 1, 1)                                # moves 3 units per frame
    assert torch.allclose(delta_joint(x, None).view(-1), torch.full((6,), 3.0))   # one-sided ends
    # Padded sequence: the real end is frame 3 of 6.
    assert torch.allclose(delta_joint(x, torch.tensor([4])).view(-1)[:4], torch.full((4,), 3.0))
    # Frames sampled with gaps (frames_skip_num): 0, 2, 3, 7, 8, 12 -> still 3 per frame.
    f = torch.tensor([[0, 2, 3, 7, 8, 12]])
    y = (3.0 * f.float()).view(1, 6, 1, 1)
    assert torch.allclose(delta_joint(y, None, f).view(-1), torch.full((6,), 3.0))
    assert torch.allclose(delta_joint(y, None).view(-1), torch.tensor([6.0, 4.5, 7.5, 7.5, 7.5, 12.0]))
    assert delta_joint(torch.ones(1, 1, 1, 1), None, torch.tensor([[5]])).item() == 0.0   # one frame
    # Unordered sampling: the branch sorts frames by their original index first.
    perm = torch.tensor([[3, 0, 5, 1, 4, 2]])
    shuffled = x[:, perm[0]]
    restored = sort_by_original_order(shuffled, perm)
    assert torch.equal(restored, x)
    padded = torch.tensor([[2, 0, 1, -1]])
    assert sort_by_original_order(torch.tensor([[20., 0., 10., 99.]]), padded).tolist() == [[0., 10., 20., 99.]]


def test_pose_branch_delta_uses_the_sampled_frame_gaps():
    """Through the branch: a wrist swinging linearly relative to the hips, frames sampled out
    of order with gaps, gives a constant Δx (its velocity per stored frame) on every frame."""
    from opengait.modeling.pose_branch import PoseBranch
    frames = torch.tensor([[8, 0, 3, 12, 2, 7]])
    pose = torch.zeros(1, 6, 17, 3)
    pose[..., 2] = 1.0
    pose[..., 1] = torch.linspace(0, 100, 17)                       # body 100 px tall
    pose[..., 9, 0] = 5.0 * frames.float()                          # left wrist: 5 px per frame
    feats, _ = PoseBranch((8,)).joint_features(pose, frames, None)
    dx = feats[0, :, :, 3]                                          # (frames, joints): Δx
    assert torch.allclose(dx[:, 9], torch.full((6,), 0.05), atol=1e-6)   # 5 px / 100 px body
    assert torch.count_nonzero(dx[:, [j for j in range(17) if j != 9]]) == 0


def reference_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    return scores.softmax(-1) @ v


def test_attention_sdpa_path_equals_the_reference():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 5, 8, generator=g)                        # 5 queries, 7 keys
    k, v = torch.randn(2, 3, 7, 8, generator=g), torch.randn(2, 3, 7, 8, generator=g)
    assert attn_mod.attention_backend(q) == "sdpa"                 # CPU tensors
    torch.testing.assert_close(attn_mod.attention(q, k, v), reference_attention(q, k, v))
    mask = torch.tensor([[True] * 7, [True, False, True, False, False, True, True]])
    out = attn_mod.attention(q, k, v, mask)
    torch.testing.assert_close(out, reference_attention(q, k, v, mask))
    k2, v2 = k.clone(), v.clone()
    k2[1, :, [1, 3, 4]] += 100.0                                    # masked keys cannot matter
    v2[1, :, [1, 3, 4]] -= 50.0
    torch.testing.assert_close(attn_mod.attention(q, k2, v2, mask), out)
    none = attn_mod.attention(q, k, v, torch.tensor([[False] * 7, [True] * 7]))
    assert torch.count_nonzero(none[0]) == 0 and torch.isfinite(none).all()


@pytest.mark.skipif(not (torch.cuda.is_available() and attn_mod.flash_attn_available()),
                    reason="needs CUDA and the flash-attn package")
def test_flash_attention_matches_sdpa_on_gpu():
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(2, 4, 16, 64, device="cuda", dtype=torch.float16, generator=g) for _ in range(3))
    assert attn_mod.attention_backend(q) == "flash_attn"
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(attn_mod.attention(q, k, v), sdpa, rtol=2e-3, atol=2e-3)


def test_ul_weights_start_at_0_3_and_0_7_and_gradients_reach_everything():
    model = build_model({**TINY, "pose_aux_loss": True, "bidirectional": True}, 3)
    w = model.ul_weights()
    assert abs(w[0].item() - 0.3) < 1e-6 and abs(w[1].item() - 0.7) < 1e-6
    agg = LossAggregator(LOSSES + [{"type": "TripletLoss", "log_prefix": "pose_triplet"}])
    out = model(inputs(), None, torch.arange(6).repeat(4, 1), torch.tensor([0, 0, 1, 2]))
    assert out["training_feat"]["triplet"]["embeddings"].shape == (4, 32, 8)
    assert out["training_feat"]["pose_triplet"]["embeddings"].shape == (4, 32, 17)
    assert set(out["log_scalars"]) == {"ul/upper", "ul/lower"}
    loss, _ = agg(out["training_feat"])
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    assert model.ul_logits.grad.abs().sum() > 0
    assert any("attn.q" in n for n, _ in model.named_parameters())


def test_pose_tokens_of_unconfident_joints_are_masked():
    model = build_model(TINY, 3).eval()
    x = inputs(2)
    x["2_pose"][:, :, 9, 2] = 0.0                                   # left wrist never confident
    tokens, mask = model.pose_branch(x["2_pose"])
    assert mask.shape == (2, 17) and not mask[:, 9].any() and mask[:, 0].all()
    changed = {k: v.clone() for k, v in x.items()}
    changed["2_pose"][:, :, 9, :2] += 500.0                          # move the unseen wrist
    with torch.no_grad():
        a = model(x)["inference_feat"]["embeddings"]
        b = model(changed)["inference_feat"]["embeddings"]
    torch.testing.assert_close(a, b)


def names(cfg):
    return {n for n, _ in build_model({**TINY, **cfg}, 3).named_parameters()}


def test_each_switch_changes_the_parameter_set_as_expected():
    full = names({})
    assert {n for n in full if n.startswith("fusion.")} and "ul_logits" in full
    no_fusion = names({"fusion": "none"})             # the keypoint branch is unused: not built
    assert not any(n.startswith(("fusion.", "pose_branch.")) for n in no_fusion)
    assert any(n.startswith("pose_branch.") for n in names({"fusion": "none", "pose_aux_loss": True}))
    gate = names({"fusion": "attention_gate"})
    assert {n for n in gate if n.startswith("fusion.")} and not any("attn" in n for n in gate)
    assert any(n.startswith("fusion.proj") for n in names({"fusion": "concat"}))
    assert "ul_logits" not in names({"ul_weighting": False})
    no_pose = names({"pose_branch": False})
    assert not any(n.startswith(("pose_branch.", "fusion.")) for n in no_pose)
    pose_only = names({"visual_branch": False})
    assert not any(n.startswith("backbone.") for n in pose_only) and any(n.startswith("pose_branch.") for n in pose_only)
    with_delta = build_model(TINY, 3).pose_branch.input_bn.num_features
    without = build_model({**TINY, "delta_joint": False}, 3).pose_branch.input_bn.num_features
    assert (with_delta, without) == (5 * 17, 3 * 17)
    assert any(n.startswith("fusion.layers.0.rev_attn") for n in names({"bidirectional": True}))
    assert len([n for n in names({"depth": 2}) if n.endswith("attn.q.weight")]) == 2


def test_without_pose_branch_and_ul_it_is_skeletongait_plus_plus():
    sgpp = build_model({"model": "SkeletonGaitPP", "Backbone": {"blocks": [1, 2, 1, 1], "C": 0.25},
                        "bin_num": [8]}, 5).eval()
    hybrid = build_model({"model": "HybridGait", "Backbone": {"blocks": [1, 2, 1, 1], "C": 0.25},
                          "bin_num": [8], "pose_branch": False, "fusion": "attention_gate",
                          "ul_weighting": False}, 5).eval()
    assert hybrid.state_dict().keys() == sgpp.state_dict().keys()
    hybrid.load_state_dict(sgpp.state_dict())
    x = inputs(3)
    with torch.no_grad():
        a, b = sgpp(x), hybrid(x)
    torch.testing.assert_close(a["inference_feat"]["embeddings"], b["inference_feat"]["embeddings"])
    torch.testing.assert_close(a["training_feat"]["softmax"]["logits"], b["training_feat"]["softmax"]["logits"])


def test_a_switched_on_aux_loss_without_its_loss_is_an_error():
    model = build_model({**TINY, "pose_aux_loss": True}, 3)
    out = model(inputs(), labels=torch.tensor([0, 0, 1, 2]))
    with pytest.raises(Exception, match="loss_cfg has no loss with that log_prefix"):
        LossAggregator(LOSSES)(out["training_feat"])


ABLATIONS = {
    "full": {},
    "attention_gate": {"fusion": "attention_gate"},
    "concat": {"fusion": "concat"},
    "no_fusion": {"fusion": "none"},
    "no_delta_joint": {"delta_joint": False},
    "no_ul": {"ul_weighting": False},
    "no_pose_branch": {"pose_branch": False},
    "pose_only": {"visual_branch": False},
}


@pytest.mark.slow                                  # 6-7 s per ablation (--durations)
@pytest.mark.parametrize("ablation", list(ABLATIONS))
def test_every_ablation_trains_on_synthetic_data(pretreated_casia, tmp_path, ablation):
    cfg = write_config(tmp_path / "h.yaml", pretreated_casia, {**TINY, **ABLATIONS[ablation]},
                       trainer_cfg={"total_iter": 4, "save_iter": 4, "log_iter": 2,
                                    "sampler": {"sample_type": "fixed_unordered"}})
    run_script("opengait/opengait/main.py", "--cfgs", cfg, "--output_root", tmp_path / "out")
    scalars = read_scalars(tmp_path / "out" / "synthetic" / "HybridGait" / "test_run" / "summary")
    assert sorted(scalars["scalar/triplet/loss"]) == [2, 4]
    assert all(math.isfinite(v) for v in scalars["scalar/softmax/loss"].values())
    if ablation != "no_ul":
        assert scalars["ul/upper"][4] != pytest.approx(0.3, abs=1e-6)   # the weights move
        assert scalars["ul/upper"][4] + scalars["ul/lower"][4] == pytest.approx(1.0)
    else:
        assert "ul/upper" not in scalars


# --- each mechanism acts: moving it changes the embeddings; its parameters get gradients ---

def embeddings(model, x, frames=None):
    with torch.no_grad():
        return model(x, None, frames)["inference_feat"]["embeddings"]


def test_ul_weights_the_halves_of_the_distance_and_the_joint_keys():
    model = build_model(TINY, 3).eval()
    x = inputs(3)
    before = embeddings(model, x)
    with torch.no_grad():
        model.ul_logits.copy_(torch.log(torch.tensor([0.5, 0.5])))          # equal weights
    after = embeddings(model, x)
    # On the part embeddings the weight is a factor: 2 * 0.3 -> 1 on the upper 4 parts, 1.4 -> 1
    # on the lower 4, up to what the attention inside changed too.
    upper = (after[..., :4].norm() / before[..., :4].norm()).item()
    lower = (after[..., 4:].norm() / before[..., 4:].norm()).item()
    assert upper == pytest.approx(1 / 0.6, rel=0.1) and lower == pytest.approx(1 / 1.4, rel=0.1)
    # Inside the attention (after the key/value LayerNorm): with the embedding factors divided
    # out, the embeddings still move -- the LayerNorm does not cancel the weighting.
    rescaled = before.clone()
    rescaled[..., :4] /= 0.6
    rescaled[..., 4:] /= 1.4
    inside = ((after - rescaled).norm() / after.norm()).item()
    assert inside > 1e-3, inside


@pytest.mark.slow
def test_ul_start_survives_training_without_a_loss_gradient():
    """UL logits sit in the group without weight decay: 2,000 SGD steps (lr 0.1, momentum 0.9,
    weight decay 5e-4 on the rest) with zero loss gradient leave them at 0.3 / 0.7."""
    from opengait.engine.optim import build_optimizer
    model = build_model(TINY, 3)
    opt = build_optimizer(model, {"solver": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0005})
    gamma = model.fusion.layers[0]["scale_attn"].gamma
    weight = model.fcs.fc_bin
    w0 = weight.detach().norm().item()
    for _ in range(2000):
        opt.zero_grad()
        (0.0 * sum(p.sum() for p in model.parameters())).backward()
        opt.step()
    w = model.ul_weights().detach()
    assert abs(w[0].item() - 0.3) < 0.01 and abs(w[1].item() - 0.7) < 0.01
    assert torch.allclose(gamma, torch.full_like(gamma, 0.1))            # LayerScale untouched
    assert weight.detach().norm().item() < 0.9 * w0                      # weights did decay


def grad_ratio(model, names_of_mechanism, x, labels):
    """Mean |gradient| of a mechanism's parameters / mean |gradient| of the visual backbone's."""
    model.zero_grad()
    loss, _ = LossAggregator(LOSSES)(model(x, None, torch.arange(6).repeat(len(labels), 1), labels)["training_feat"])
    loss.backward()
    named = dict(model.named_parameters())
    mech = torch.cat([named[n].grad.abs().flatten() for n in names_of_mechanism])
    back = torch.cat([p.grad.abs().flatten() for n, p in named.items() if n.startswith("backbone.")])
    return (mech.mean() / back.mean()).item()


def test_each_mechanism_changes_the_embeddings_and_gets_a_gradient():
    torch.manual_seed(0)
    model = build_model(TINY, 3)
    x, labels = inputs(6, seed=1), torch.tensor([0, 0, 1, 1, 2, 2])
    model.eval()
    base = embeddings(model, x, torch.arange(6).repeat(6, 1))

    def moved(edit) -> float:
        m = build_model(TINY, 3)
        m.load_state_dict(model.state_dict())
        m.eval()
        with torch.no_grad():
            edit(m)
        return ((embeddings(m, x, torch.arange(6).repeat(6, 1)) - base).norm() / base.norm()).item()
    layer = "fusion.layers.0."
    changes = {
        "cross_attention": moved(lambda m: m.fusion.layers[0]["attn"].q.weight.mul_(3.0)),
        "ul": moved(lambda m: m.ul_logits.copy_(torch.log(torch.tensor([0.6, 0.4])))),
        "delta_joint": moved(lambda m: m.pose_branch.input_bn.weight[3 * 17:].zero_()),
        "pose_input": 0.0,
    }
    shifted = {k: v.clone() for k, v in x.items()}
    shifted["2_pose"][..., 9, 0] += torch.linspace(0, 30, 6)[None, :]      # the left arm swings
    changes["pose_input"] = ((embeddings(model, shifted, torch.arange(6).repeat(6, 1)) - base).norm()
                             / base.norm()).item()
    assert all(v > 1e-3 for v in changes.values()), changes
    model.train()
    named = [n for n, _ in model.named_parameters()]
    ratios = {
        "cross_attention": grad_ratio(model, [n for n in named if n.startswith(layer + "attn.")], x, labels),
        "ul": grad_ratio(model, ["ul_logits"], x, labels),
        "pose_branch": grad_ratio(model, [n for n in named if n.startswith("pose_branch.")], x, labels),
    }
    # Seeded model and inputs: the ratios are known (to float rounding; UL's moves by 3e-4 of itself
    # between one and two threads). Each mechanism's parameters get about 2-4% of the backbone's
    # mean gradient: neither cut off nor dominant.
    assert ratios == pytest.approx({"cross_attention": 0.019478, "ul": 0.030994, "pose_branch": 0.036427},
                                   rel=2e-3), ratios


def test_flash_attention_runs_in_the_default_model_when_no_joint_is_masked(monkeypatch):
    """A spy stands in for flash_attn_func on the CPU: the default model calls it when every
    joint of the batch is seen, and SDPA when one is masked."""
    calls = []

    def spy(q, k, v):                                  # flash-attn's (B, L, H, d) layout
        calls.append(q.shape)
        return torch.nn.functional.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
    monkeypatch.setattr(attn_mod, "flash_capable", lambda q: True)
    monkeypatch.setattr(attn_mod, "flash_attn_function", lambda: spy)
    model = build_model(TINY, 3).eval()
    x = inputs(2)
    before = dict(attn_mod.BACKEND_CALLS)
    flash_out = embeddings(model, x)
    assert len(calls) == 1 and attn_mod.BACKEND_CALLS["flash_attn"] == before.get("flash_attn", 0) + 1
    x["2_pose"][1, :, 9, 2] = 0.0                      # one wrist never seen: a key mask
    embeddings(model, x)
    assert len(calls) == 1 and attn_mod.BACKEND_CALLS["sdpa"] == before.get("sdpa", 0) + 1
    monkeypatch.setattr(attn_mod, "flash_capable", lambda q: False)
    x["2_pose"][1, :, 9, 2] = 0.9
    torch.testing.assert_close(embeddings(model, x), flash_out)   # the same numbers either way


@pytest.mark.skipif(not (torch.cuda.is_available() and attn_mod.flash_attn_available()),
                    reason="needs CUDA and the flash-attn package")
def test_model_forward_through_flash_matches_sdpa_on_gpu():
    model = build_model(TINY, 3).cuda().eval()
    x = {k: v.cuda() for k, v in inputs(2).items()}
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
        before = attn_mod.BACKEND_CALLS["flash_attn"]
        flash = model(x)["inference_feat"]["embeddings"].float()
        assert attn_mod.BACKEND_CALLS["flash_attn"] == before + 1
        import unittest.mock
        with unittest.mock.patch.object(attn_mod, "flash_capable", lambda q: False):
            sdpa = model(x)["inference_feat"]["embeddings"].float()
    torch.testing.assert_close(flash, sdpa, rtol=1e-2, atol=1e-2)


def test_pose_normalizations_by_hand():
    """height: every frame one unit tall; sequence: the median frame height of the real frames;
    pixels: 100 px. Hips at the origin in all three."""
    from opengait.modeling.pose_branch import normalize_pose
    pose = torch.zeros(1, 3, 17, 3)
    pose[..., 2] = 1.0
    for t, tall in enumerate((100.0, 120.0, 200.0)):        # frame heights (the third frame is padding)
        pose[0, t, :, 1] = torch.linspace(0, tall, 17)
        pose[0, t, 11, 1] = pose[0, t, 12, 1] = tall / 2     # the hips half-way up
    pose[0, :, 0, 0] = 30.0                                  # the nose 30 px right of the hips
    lengths = torch.tensor([2])
    per_frame, _ = normalize_pose(pose, 0.3, "height", lengths)
    sequence, _ = normalize_pose(pose, 0.3, "sequence", lengths)
    pixels, _ = normalize_pose(pose, 0.3, "pixels", lengths)
    assert per_frame[0, 0, 0, 0] == pytest.approx(0.30) and per_frame[0, 1, 0, 0] == pytest.approx(0.25)
    assert sequence[0, 0, 0, 0] == pytest.approx(30 / 110) and sequence[0, 1, 0, 0] == pytest.approx(30 / 110)
    assert pixels[0, 1, 16, 1] == pytest.approx(0.60)       # the ankle 60 px below the hips
    assert per_frame[0, 0, 11].abs().max() == 0 and sequence[0, 1, 12].abs().max() == 0


def test_pose_normalization_changes_the_embeddings():
    torch.manual_seed(0)
    cfg = {"model": "HybridGait", "visual_branch": False, "pose_channels": [8, 16]}
    models = {m: build_model({**cfg, "pose_normalization": m}, 4).eval() for m in ("height", "sequence", "pixels")}
    state = models["height"].state_dict()
    pose = torch.rand(2, 6, 17, 3) * torch.tensor([80.0, 160.0, 1.0]) + torch.tensor([100.0, 40.0, 0.0])
    with torch.no_grad():
        out = {}
        for name, model in models.items():
            model.load_state_dict(state)
            out[name] = model({"2_pose": pose}, torch.tensor([6, 6]), torch.arange(6).repeat(2, 1))[
                "inference_feat"]["embeddings"]
    assert not torch.allclose(out["height"], out["sequence"]) and not torch.allclose(out["sequence"], out["pixels"])
    with pytest.raises(ConfigError, match="pose_normalization: 'metres' is not one of"):
        build_model({**cfg, "pose_normalization": "metres"}, 4)


def test_resgcn_pose_encoder_builds_tokens_and_keeps_the_switches():
    """pose_encoder: resgcn -- 17 joint tokens from GaitGraph2's encoder; delta_joint: false drops
    the ΔJoint input branch (and changes the output); a padded batch embeds each sequence as
    alone; the visual branch fuses its tokens as the light encoder's."""
    torch.manual_seed(0)
    cfg = {"model": "HybridGait", "visual_branch": False, "pose_encoder": "resgcn"}
    model = build_model(cfg, 4).eval()
    no_delta = build_model({**cfg, "delta_joint": False}, 4).eval()
    assert len(model.pose_branch.head) == 3 and len(no_delta.pose_branch.head) == 2
    pose = torch.rand(2, 12, 17, 3) * torch.tensor([80.0, 160.0, 1.0]) + torch.tensor([100.0, 40.0, 0.0])
    frames = torch.arange(12).repeat(2, 1)
    with torch.no_grad():
        tokens, mask = model.pose_branch(pose, frames, torch.tensor([12, 12]))
        assert tokens.shape == (2, 17, 256) and bool(mask.all())
        padded = pose.clone()
        padded[1, 9:] = 0
        together = model({"2_pose": padded}, torch.tensor([12, 9]), frames)["inference_feat"]["embeddings"]
        alone = model({"2_pose": pose[1:2, :9]}, torch.tensor([9]), frames[1:2, :9])["inference_feat"]["embeddings"]
        torch.testing.assert_close(together[1], alone[0], rtol=1e-4, atol=1e-5)
        light = build_model({**cfg, "pose_encoder": "light"}, 4).eval()
        assert light({"2_pose": pose}, None, frames)["inference_feat"]["embeddings"].shape == (2, 256, 17)
    with pytest.raises(ConfigError, match="pose_encoder: 'lstm' is not one of light, resgcn"):
        build_model({**cfg, "pose_encoder": "lstm"}, 4)
