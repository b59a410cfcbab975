"""Trainer parts on hand-made inputs: sampler, frame sampling, losses, evaluators, models."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from opengait.config import ConfigError, apply_override, load_config, merge_strict
from opengait.data import frame_sampling as fs
from opengait.data.loader import collate_sequences
from opengait.data.samplers import InferenceSampler, TripletSampler
from opengait.data.transforms import build_transform
from opengait.evaluation.distance import pairwise_distance, topk_indices
from opengait.modeling.losses import CrossEntropyLoss, LossAggregator, TripletLoss
from opengait.modeling.registry import build_model

FIXED = {"sample_type": "fixed_ordered", "frames_num_fixed": 6, "frames_skip_num": 3}


def test_triplet_sampler_composition_and_determinism():
    groups = {0: [0, 1, 2, 3, 4], 1: [5, 6], 2: [7, 8, 9, 10], 3: [11, 12, 13, 14, 15]}
    sampler = TripletSampler(groups, [3, 4], FIXED, seed=7)
    label_of = {i: lab for lab, idx in groups.items() for i in idx}
    for it in range(50):
        batch = sampler.batch(it)
        assert len(batch) == 12
        labels = [label_of[r.index] for r in batch]
        chunks = [labels[i:i + 4] for i in range(0, 12, 4)]
        assert all(len(set(c)) == 1 for c in chunks)               # K sequences of one id
        assert len({c[0] for c in chunks}) == 3                     # P different ids
        for c, chunk in zip(chunks, [batch[i:i + 4] for i in range(0, 12, 4)]):
            picks = [r.index for r in chunk]
            if len(groups[c[0]]) >= 4:
                assert len(set(picks)) == 4                         # no repeats when avoidable
    assert any(len({r.index for r in sampler.batch(it)[0:4]}) < 4 for it in range(200)
               if label_of[sampler.batch(it)[0].index] == 1)        # id 1 has 2 sequences only
    again = TripletSampler(groups, [3, 4], FIXED, seed=7, start_iter=10)
    assert next(iter(again)) == sampler.batch(10)                    # resume = same stream
    assert TripletSampler(groups, [3, 4], FIXED, seed=8).batch(10) != sampler.batch(10)


def test_frame_sampling_modes():
    rng = np.random.default_rng(0)
    for _ in range(100):
        idx = fs.fixed_ordered(50, 6, 3, rng)
        assert len(idx) == 6 and (np.diff(idx) > 0).all() and idx[-1] - idx[0] <= 8
    short = fs.fixed_ordered(4, 6, 3, rng)
    assert len(short) == 6 and set(short) <= set(range(4))            # repeated end to end
    unordered = fs.fixed_unordered(50, 10, rng)
    assert len(set(unordered)) == 10 and not (np.diff(unordered) > 0).all()
    assert len(fs.fixed_unordered(3, 10, rng)) == 10                  # replacement when short
    assert fs.all_ordered(5, 720).tolist() == [0, 1, 2, 3, 4]
    assert fs.all_ordered(1000, 10).tolist() == list(range(10))                # OpenGait: first N
    spread = fs.all_ordered(1000, 10, "evenly_spaced")
    assert spread.tolist() == [0, 111, 222, 333, 444, 555, 666, 777, 888, 999]
    cap = {"sample_type": "all_ordered", "frames_all_limit": 3}
    assert fs.sample_frames(8, cap, rng).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="frames_all_select"):
        fs.all_ordered(10, 3, "middle")
    cfg = {"sample_type": "unfixed_ordered", "frames_num_min": 5, "frames_num_max": 8}
    counts = {fs.batch_frame_count(cfg, rng) for _ in range(200)}
    assert counts == {5, 6, 7, 8}
    assert len(fs.sample_frames(40, cfg, rng, 7)) == 7
    with pytest.raises(ValueError, match="unknown sample_type"):
        fs.sample_frames(40, {"sample_type": "fixed_sideways", "frames_num_fixed": 3}, rng)


def test_inference_sampler_covers_everything_once_grouped_by_length():
    hints = [5, 100, 7, 90, 6, 95, 8]
    batches = list(InferenceSampler(hints, 3))
    flat = [r.index for b in batches for r in b]
    assert sorted(flat) == list(range(7))
    assert [r.index for r in batches[0]] == [0, 4, 2]
    shards = [list(InferenceSampler(hints, 2, rank=r, world_size=2)) for r in (0, 1)]
    assert sorted(r.index for s in shards for b in s for r in b) == list(range(7))


def test_collate_pads_and_marks_real_frames():
    items = [{"data": {"1_sil": np.ones((3, 4, 2), np.float32)}, "frames": np.array([0, 2, 5]),
              "index": 0, "label": 1},
             {"data": {"1_sil": np.ones((5, 4, 2), np.float32)}, "frames": np.arange(5),
              "index": 1, "label": 0}]
    batch = collate_sequences(items)
    assert batch["inputs"]["1_sil"].shape == (2, 5, 4, 2)
    assert batch["lengths"].tolist() == [3, 5]
    assert batch["frames"][0].tolist() == [0, 2, 5, -1, -1]
    assert batch["inputs"]["1_sil"][0, 3:].abs().sum() == 0


def test_transforms_apply_one_draw_to_all_modalities():
    sil = np.zeros((4, 64, 64), np.uint8)
    sil[:, :, 10:20] = 255
    maps = np.zeros((4, 2, 64, 64), np.uint8)
    maps[:, :, :, 10:20] = 255
    pose = np.zeros((4, 17, 3), np.float32)
    pose[:, 5, 0], pose[:, 6, 0] = 10.0, 20.0                         # left / right shoulder
    flip = build_transform([{"type": "BaseSilCuttingTransform"},
                            {"type": "RandomHorizontalFlip", "prob": 1.0}], "test")
    out = flip({"1_sil": sil, "0_heatmap": maps, "2_pose": pose}, np.random.default_rng(0))
    assert out["1_sil"].shape == (4, 64, 44) and out["1_sil"].max() == 1.0
    assert out["1_sil"][0, 0, 34:44].all() and not out["1_sil"][0, 0, :34].any()
    np.testing.assert_array_equal(out["0_heatmap"][:, 0], out["1_sil"])
    assert out["2_pose"][0, 5, 0] == -20.0 and out["2_pose"][0, 6, 0] == -10.0  # mirrored, swapped
    with pytest.raises(ConfigError, match="RandomRotate has no setting 'degrees'"):
        build_transform([{"type": "RandomRotate", "degrees": 5}], "trainer_cfg.transform")
    with pytest.raises(ConfigError, match="unknown transform 'Blur'"):
        build_transform([{"type": "Blur"}], "trainer_cfg.transform")


def test_triplet_loss_against_hand_computed_values():
    # One part, 1-D embeddings: a=0, b=1 (label 0); c=3, d=0.5 (label 1); margin 1.
    emb = torch.tensor([[0.0], [1.0], [3.0], [0.5]]).view(4, 1, 1)
    labels = torch.tensor([0, 0, 1, 1])
    loss, info = TripletLoss(margin=1.0)(emb, labels)
    d = torch.tensor([[0, 1, 3, .5], [1, 0, 2, .5], [3, 2, 0, 2.5], [.5, .5, 2.5, 0]])
    terms = []
    for a in range(4):
        for p in range(4):
            for n in range(4):
                if labels[a] == labels[p] and labels[a] != labels[n]:
                    terms.append(max(0.0, float(d[a, p] - d[a, n] + 1.0)))
    nonzero = [t for t in terms if t > 0]
    assert math.isclose(loss.item(), sum(nonzero) / len(nonzero), rel_tol=1e-6)
    assert info["loss_num"].item() == len(nonzero) and math.isclose(info["hard_loss"].item(), max(terms))
    assert math.isclose(info["mean_dist"].item(), d.mean().item(), rel_tol=1e-6)
    far = torch.tensor([[0.0], [0.1], [10.0], [10.1]]).view(4, 1, 1)
    zero, info = TripletLoss(margin=1.0)(far, labels)
    assert zero.item() == 0.0 and info["loss_num"].item() == 0


def test_cross_entropy_against_hand_computed_values():
    logits = torch.tensor([[[0.5, 0.1], [0.2, 0.3]], [[-0.1, 0.0], [0.4, 0.2]]])  # (N=2, C=2, P=2)
    labels = torch.tensor([0, 1])
    loss, info = CrossEntropyLoss(scale=16, label_smooth=True, log_accuracy=True)(logits, labels)
    total = 0.0
    for n in range(2):
        for p in range(2):
            z = 16 * logits[n, :, p]
            logp = z - torch.logsumexp(z, 0)
            target = torch.full((2,), 0.05)
            target[labels[n]] += 0.9
            total += -(target * logp).sum().item()
    assert math.isclose(loss.item(), total / 4, rel_tol=1e-5)
    correct = [(logits[n, :, p].argmax() == labels[n]).item() for n in range(2) for p in range(2)]
    assert math.isclose(info["accuracy"].item(), sum(correct) / 4)


def test_loss_aggregator_weights_and_names():
    agg = LossAggregator([{"type": "TripletLoss", "margin": 0.2, "log_prefix": "triplet",
                           "loss_term_weight": 0.5},
                          {"type": "CrossEntropyLoss", "log_prefix": "softmax", "log_accuracy": True}])
    emb, labels = torch.randn(4, 8, 2), torch.tensor([0, 0, 1, 1])
    logits = torch.randn(4, 3, 2)
    total, info = agg({"triplet": {"embeddings": emb, "labels": labels},
                       "softmax": {"logits": logits, "labels": labels}})
    t, _ = TripletLoss(0.2)(emb, labels)
    c, _ = CrossEntropyLoss()(logits, labels)
    assert torch.isclose(total, 0.5 * t + c)
    assert set(info) == {"scalar/triplet/loss", "scalar/triplet/hard_loss", "scalar/triplet/loss_num",
                         "scalar/triplet/mean_dist", "scalar/softmax/loss", "scalar/softmax/accuracy"}
    with pytest.raises(ConfigError, match="TripletLoss has no setting 'margn'"):
        LossAggregator([{"type": "TripletLoss", "margn": 0.2, "log_prefix": "triplet"}])


def test_distances_in_chunks_and_metrics():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 5, 3)), rng.normal(size=(9, 5, 3))
    euc = pairwise_distance(a, b, "euc", chunk=2)
    expected = np.mean([np.linalg.norm(a[:, None, :, p] - b[None, :, :, p], axis=-1) for p in range(3)], 0)
    np.testing.assert_allclose(euc, expected, rtol=1e-4)
    cos = pairwise_distance(a, b, "cos", chunk=3)
    na, nb = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(cos, 1 - np.einsum("ncp,mcp->nmp", na, nb).mean(-1), rtol=1e-4, atol=1e-6)
    top = topk_indices(a, b, 4, "euc", chunk=3)
    np.testing.assert_array_equal(top, np.argsort(expected, axis=1)[:, :4])


def test_distances_over_several_row_blocks_match_a_per_part_loop():
    """More probe rows than one block (BLOCK_ROWS = 128) and a chunk that cuts a block: every
    row equals the per-part loop written out in float64."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 16, 4)).astype(np.float32), rng.normal(size=(50, 16, 4)).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    euc = np.zeros((300, 50))
    cos = np.zeros((300, 50))
    for part in range(4):
        x, y = a64[:, :, part], b64[:, :, part]
        euc += np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)) / 4
        cos += (x @ y.T) / np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)) / 4
    np.testing.assert_allclose(pairwise_distance(a, b, "euc", chunk=200), euc, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pairwise_distance(a, b, "cos", chunk=200), 1 - cos, atol=1e-5)


def model_inputs(n=2, s=6, h=32, w=22, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"1_sil": torch.rand(n, s, h, w, generator=g), "0_heatmap": torch.rand(n, s, 2, h, w, generator=g)}


@pytest.mark.parametrize("name, params", [("GaitBase", 7_305_408), ("SkeletonGaitPP", 13_583_712)])
def test_published_model_sizes(name, params):
    model = build_model({"model": name}, 74)
    assert sum(p.numel() for p in model.parameters()) == params   # OpenGait's own count
    out = model({"1_sil": torch.rand(2, 3, 64, 44), "0_heatmap": torch.rand(2, 3, 2, 64, 44)},
                labels=torch.tensor([0, 1]))
    assert out["training_feat"]["triplet"]["embeddings"].shape == (2, 256, 16)
    assert out["training_feat"]["softmax"]["logits"].shape == (2, 74, 16)
    assert out["inference_feat"]["embeddings"].shape == (2, 256, 16)


SMALL = {"GaitBase": {"model": "GaitBase", "backbone_cfg": {"channels": [8, 16, 32, 64]},
                      "SeparateFCs": {"in_channels": 64, "out_channels": 32, "parts_num": 8},
                      "bin_num": [8]},
         "SkeletonGaitPP": {"model": "SkeletonGaitPP", "Backbone": {"blocks": [1, 2, 1, 1], "C": 0.25},
                            "bin_num": [8]}}


@pytest.mark.parametrize("name", list(SMALL))
def test_gradients_reach_every_parameter(name):
    model = build_model(SMALL[name], 3)
    out = model(model_inputs(4), labels=torch.tensor([0, 0, 1, 2]))
    agg = LossAggregator([{"type": "TripletLoss", "log_prefix": "triplet"},
                          {"type": "CrossEntropyLoss", "log_prefix": "softmax"}])
    loss, _ = agg(out["training_feat"])
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize("name", list(SMALL))
def test_padded_batch_equals_sequences_run_alone(name):
    """Test-time batching: sequences of different lengths in one padded batch give the same
    embeddings as each sequence on its own (no mixing through temporal convs or pooling)."""
    model = build_model(SMALL[name], 3).eval()
    a, b = model_inputs(1, 7, seed=1), model_inputs(1, 4, seed=2)
    padded = {k: torch.zeros(2, 7, *v.shape[2:]) for k, v in a.items()}
    for k in padded:
        padded[k][0] = a[k][0]
        padded[k][1, :4] = b[k][0]
    with torch.no_grad():
        together = model(padded, torch.tensor([7, 4]))["inference_feat"]["embeddings"]
        alone = [model(x)["inference_feat"]["embeddings"][0] for x in (a, b)]
    torch.testing.assert_close(together[0], alone[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(together[1], alone[1], rtol=1e-4, atol=1e-5)


def test_config_merge_is_strict(tmp_path):
    default = {"data_cfg": {"dataset_root": "", "cache": False}, "model_cfg": {"model": "X"},
               "trainer_cfg": {"total_iter": 10, "sampler": {"batch_size": [8, 16]}}}
    merged = merge_strict(default, {"trainer_cfg": {"sampler": {"batch_size": [2, 2]}},
                                    "model_cfg": {"model": "Y", "anything": 1}}, "exp.yaml")
    assert merged["trainer_cfg"]["sampler"]["batch_size"] == [2, 2]
    assert merged["model_cfg"] == {"model": "Y", "anything": 1}
    with pytest.raises(ConfigError, match=r"exp.yaml: unknown key 'trainer_cfg.total_iters' \(did you mean 'total_iter'\?\)"):
        merge_strict(default, {"trainer_cfg": {"total_iters": 5}}, "exp.yaml")
    apply_override(merged, "trainer_cfg.total_iter=200")
    apply_override(merged, "trainer_cfg.sampler.batch_size=[4, 4]")
    assert merged["trainer_cfg"]["total_iter"] == 200 and merged["trainer_cfg"]["sampler"]["batch_size"] == [4, 4]
    with pytest.raises(ConfigError, match="unknown key 'data_cfg.cach'"):
        apply_override(merged, "data_cfg.cach=true")
    path = tmp_path / "exp.yaml"
    path.write_text("trainer_cfg:\n  save_nam: x\n")
    with pytest.raises(ConfigError, match="exp.yaml: unknown key 'trainer_cfg.save_nam'"):
        load_config(path)


def test_opengait_keys_are_honoured_or_refused(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("model_cfg:\n  model: GaitBase\n")
    for override, message in [("trainer_cfg.sampler.type=BilateralSampler", "TripletSampler .P x K batches. and CommonSampler"),
                              ("trainer_cfg.sampler.type=CommonSampler", r"CommonSampler takes one integer >= 1"),
                              ("evaluator_cfg.sampler.type=BilateralSampler", "InferenceSampler, the only"),
                              ("evaluator_cfg.sampler.batch_shuffle=true", "batch_shuffle: true is not built"),
                              ("evaluator_cfg.sampler.frames_all_select=middle", "not one of first")]:
        with pytest.raises(ConfigError, match=message):
            load_config(path, [override])
    # trainer batch_shuffle: the same sequences, in another order.
    groups = {0: [0, 1, 2], 1: [3, 4, 5], 2: [6, 7, 8]}
    plain = TripletSampler(groups, [2, 3], {**FIXED, "batch_shuffle": False}, seed=3).batch(0)
    shuffled = TripletSampler(groups, [2, 3], {**FIXED, "batch_shuffle": True}, seed=3).batch(0)
    assert sorted(r.index for r in plain) == sorted(r.index for r in shuffled)
    assert [r.index for r in plain] != [r.index for r in shuffled]
    # SkeletonGait++: Backbone.in_channels = skeleton-map channels + 1; derived sizes must agree.
    three = build_model({"model": "SkeletonGaitPP", "Backbone": {"in_channels": 3, "C": 0.25}}, 4)
    four = build_model({"model": "SkeletonGaitPP", "Backbone": {"in_channels": 4, "C": 0.25}}, 4)
    stem = "backbone.map_stem.block.0.weight"
    assert three.state_dict()[stem].shape[1] == 2 and four.state_dict()[stem].shape[1] == 3
    for model_cfg, message in [({"SeparateFCs": {"parts_num": 31}}, "parts_num: 31, but"),
                               ({"SeparateFCs": {"in_channels": 100}}, "in_channels: 100, but"),
                               ({"SeparateBNNecks": {"in_channels": 64}}, "SeparateBNNecks.in_channels: 64"),
                               ({"Backbone": {"in_channels": 1}}, "skeleton-map channels plus one")]:
        with pytest.raises(ConfigError, match=message):
            build_model({"model": "SkeletonGaitPP", **model_cfg}, 4)
    # BaseSilCuttingTransform.img_w: the frames must be that wide.
    data = {"1_sil": np.zeros((2, 64, 64), np.uint8)}
    assert build_transform([{"type": "BaseSilCuttingTransform", "img_w": 64}], "t")(data, None)["1_sil"].shape == (2, 64, 44)
    with pytest.raises(ConfigError, match="img_w: 128, but the 1_sil frames are 64 wide"):
        build_transform([{"type": "BaseSilCuttingTransform", "img_w": 128}], "t")(data, None)


def test_a_skipped_fp16_step_does_not_step_the_scheduler_and_clipping_bounds_the_norm():
    """The grad scaler of an FP16 run (here on the CPU) skips a step whose gradient is inf; the
    learning-rate schedule must not advance then (OpenGait's rule). Then, in FP32, clipping
    scales the gradient down to the clip norm before the step."""
    from accelerate import Accelerator
    from opengait.engine.trainer import apply_gradients
    acc = Accelerator(cpu=True)
    acc.scaler = torch.amp.GradScaler("cpu")
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[1], gamma=0.1)
    model, opt = acc.prepare(model, opt)
    x = torch.ones(4, 3)
    hook = model.weight.register_hook(lambda g: torch.full_like(g, float("inf")))
    before = model.weight.detach().clone()
    _, skipped = apply_gradients(acc, model, opt, sched, model(x).sum(), 0.0)
    assert skipped and sched.last_epoch == 0 and torch.equal(model.weight.detach(), before)
    hook.remove()
    _, skipped = apply_gradients(acc, model, opt, sched, model(x).sum(), 0.0)
    assert not skipped and sched.last_epoch == 1 and opt.param_groups[0]["lr"] == pytest.approx(0.01)
    # Clipping (FP32 here): the gradient (4 per weight, 4 for the bias: norm 8) is scaled to 1e-3.
    plain = Accelerator(cpu=True)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[10])
    model, opt = plain.prepare(model, opt)
    before = model.weight.detach().clone()
    norm, skipped = apply_gradients(plain, model, opt, sched, model(x).sum(), 1e-3)
    assert not skipped and norm == pytest.approx(8.0)
    step = (model.weight.detach() - before).norm().item()
    assert step == pytest.approx(0.1 * 1e-3 * math.sqrt(3) * 4 / 8, rel=1e-3)   # float32 differences


def test_parameter_groups_and_warm_up():
    from opengait.engine.optim import build_optimizer, build_scheduler
    hybrid = build_model({"model": "HybridGait", "Backbone": {"blocks": [1, 1, 1, 1], "C": 0.25},
                          "bin_num": [8], "pose_channels": [8, 16], "num_heads": 2, "head_dim": 8}, 3)
    opt = build_optimizer(hybrid, {"solver": "SGD", "lr": 0.1, "weight_decay": 5e-4})
    group_of = {id(p): g for g in opt.param_groups for p in g["params"]}
    named = dict(hybrid.named_parameters())
    assert sum(len(g["params"]) for g in opt.param_groups) == len(named)
    exempt = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert id(named["ul_logits"]) in exempt and id(named["fusion.layers.0.scale_attn.gamma"]) in exempt
    assert id(named["fcs.fc_bin"]) not in exempt and group_of[id(named["fcs.fc_bin"])]["weight_decay"] == 5e-4
    assert group_of[id(named["ul_logits"])]["lr"] == pytest.approx(0.01)      # 0.1 x the learning rate
    assert group_of[id(named["fcs.fc_bin"])]["lr"] == pytest.approx(0.1)
    gaitbase = build_model({"model": "GaitBase"}, 3)          # OpenGait decays everything
    assert len(build_optimizer(gaitbase, {"solver": "SGD", "lr": 0.1}).param_groups) == 1
    assert len(build_optimizer(gaitbase, {"solver": "SGD", "lr": 0.1, "no_weight_decay": "all_1d"}).param_groups) == 2
    none = build_optimizer(hybrid, {"solver": "SGD", "lr": 0.1, "weight_decay": 1e-4, "no_weight_decay": "none"})
    assert {g["weight_decay"] for g in none.param_groups} == {1e-4}     # (UL logits: own lr group)
    with pytest.raises(ConfigError, match="no_weight_decay: 'some'"):
        build_optimizer(hybrid, {"solver": "SGD", "lr": 0.1, "no_weight_decay": "some"})
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    sched = build_scheduler(opt, {"scheduler": "MultiStepLR", "milestones": [5], "gamma": 0.1,
                                  "warmup_iters": 3, "warmup_start_factor": 0.1})
    lrs = []
    for _ in range(7):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.01, 0.04, 0.07, 0.1, 0.1, 0.01, 0.01])   # ramp, then the milestone
    with pytest.raises(ConfigError, match="warmup_iters -1"):
        build_scheduler(opt, {"scheduler": "MultiStepLR", "milestones": [5], "warmup_iters": -1})
