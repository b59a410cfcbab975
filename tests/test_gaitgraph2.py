"""GaitGraph2 as OpenGait builds it: parameter names and counts, the graph, the multi-input
features, the keypoint transforms, the loss, the sampler, and an OpenGait checkpoint embedding
as a literal write-up of OpenGait's forward pass (tests/opengait_reference_forward.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from opengait_reference_forward import (KEYS, coco_adjacency, gaitgraph_inputs, random_opengait_state,
                                        resgcn_forward)
from opengait.config import ConfigError
from opengait.data.samplers import CommonSampler
from opengait.data.transforms import build_transform
from opengait.engine.checkpoint import load_checkpoint, load_model_weights
from opengait.modeling.losses import LossAggregator
from opengait.modeling.registry import build_model, model_inputs

CASIA_B = {"model": "GaitGraph2", "joint_format": "coco", "input_num": 3, "reduction": 8, "block": "Bottleneck",
           "input_branch": [5, 64, 32], "main_stream": [32, 128, 256], "num_class": 128, "tta": True}
GREW = {**CASIA_B, "reduction": 4, "input_branch": [5, 64, 64, 32],
        "main_stream": [32, 128, 128, 128, 256, 256, 256]}
FAMILIES = {"gaitgraph2": (CASIA_B, 350_822), "gaitgraph2_grew": (GREW, 763_178)}   # OpenGait's counts


def walking_pose(t_len=12, seed=0) -> np.ndarray:
    """A plausible COCO-17 sequence in pixels with per-frame jitter."""
    rng = np.random.default_rng(seed)
    base = np.array([[50, 20], [48, 18], [52, 18], [46, 19], [54, 19], [42, 35], [58, 35], [40, 50],
                     [60, 50], [39, 64], [61, 64], [45, 70], [55, 70], [44, 90], [56, 90], [43, 110],
                     [57, 110]], np.float32)
    xy = base[None] + rng.normal(0, 1.5, (t_len, 17, 2)) + np.arange(t_len)[:, None, None] * [2.0, 0.0]
    conf = rng.uniform(0.4, 1.0, (t_len, 17, 1))
    return np.concatenate([xy, conf], -1).astype(np.float32)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_parameter_names_shapes_and_counts_are_opengaits(family):
    cfg, count = FAMILIES[family]
    model = build_model(cfg, 74)
    assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == KEYS[family]
    assert sum(p.numel() for p in model.parameters()) == count


def test_the_adjacency_is_the_hop_partition_of_the_coco_graph():
    model = build_model(CASIA_B, 5)
    np.testing.assert_allclose(model.state_dict()["ResGCN.head.0.A"].numpy(), coco_adjacency(), atol=1e-7)
    # One entry by hand: the nose sees itself, the eyes (1 hop), the ears (2) and the
    # shoulders (3); 7 joints lie within 3 hops of it, so its column is divided by 7.
    A = model.state_dict()["ResGCN.head.0.A"]
    assert A[0, 0, 0] == pytest.approx(1 / 7) and A[1, 1, 0] == pytest.approx(1 / 7)
    assert A[3, 5, 0] == pytest.approx(1 / 7) and A[:, 7, 0].sum() == 0      # elbow: 4 hops


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_an_opengait_checkpoint_embeds_as_opengaits_forward(family, tmp_path):
    cfg, _ = FAMILIES[family]
    state = random_opengait_state(family, seed=2)
    path = tmp_path / "GaitGraph2-00500.pt"
    torch.save({"model": state, "optimizer": {}, "scheduler": {}, "iteration": 500}, path)
    model = build_model(cfg, 74).eval()
    load_model_weights(model, load_checkpoint(path, cfg), path)
    poses = [walking_pose(seed=s) for s in (0, 1)]
    x = torch.tensor(np.stack([gaitgraph_inputs(p) for p in poses]), dtype=torch.float32)
    with torch.no_grad():
        ours = model({"2_pose": x})["inference_feat"]["embeddings"]
        # OpenGait's test-time augmentation: the sequence, played backwards, left/right swapped.
        swap = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
        views = [x, *(torch.tensor(np.stack([gaitgraph_inputs(f(p)) for p in poses]), dtype=torch.float32)
                      for f in (lambda p: p[::-1], lambda p: p[:, swap]))]
        theirs = torch.cat([resgcn_forward(state, v.permute(0, 3, 4, 1, 2), cfg["input_branch"],
                                           cfg["main_stream"]) for v in views], dim=1)
    assert ours.shape == (2, 384, 1)
    torch.testing.assert_close(ours[..., 0], theirs, rtol=1e-4, atol=1e-5)


def test_multi_input_features_entry_by_entry():
    pose = walking_pose(t_len=5)
    got = build_transform([{"type": "GaitGraphMultiInput"}], "t")({"2_pose": pose}, np.random.default_rng(0))
    np.testing.assert_allclose(got["2_pose"], gaitgraph_inputs(pose), rtol=1e-6, atol=1e-5)
    # One value by hand: frame 0, left wrist (9) from the left elbow (7): the bone's angle.
    bx, by = pose[0, 9, 0] - pose[0, 7, 0], pose[0, 9, 1] - pose[0, 7, 1]
    assert got["2_pose"][0, 9, 2, 4] == pytest.approx(math.acos(by / (math.hypot(bx, by) + 1e-4)), abs=1e-6)
    with pytest.raises(ConfigError, match="joint_format alphapose has 18 joints, but the keypoints hold 17"):
        build_transform([{"type": "GaitGraphMultiInput", "joint_format": "alphapose"}], "t")(
            {"2_pose": pose}, np.random.default_rng(0))


def test_normalize_empty_fills_missing_joints_in_order():
    pose = np.zeros((1, 17, 3), np.float32)
    pose[0, :, 0], pose[0, :, 1], pose[0, :, 2] = np.arange(1, 18), 10.0, 1.0
    pose[0, 3, 0] = pose[0, 8, 0] = 0.0                  # two joints not detected
    out = build_transform([{"type": "NormalizeEmpty"}], "t")({"2_pose": pose}, None)["2_pose"]
    xs = list(range(1, 18))
    xs[3] = xs[8] = 0
    first = sum(xs) / 17                                  # joint 3: the frame's mean x
    xs[3] = first
    second = sum(xs) / 17                                 # joint 8: the mean including joint 3's new x
    assert out[0, 3, 0] == pytest.approx(first) and out[0, 8, 0] == pytest.approx(second)
    assert out[0, 3, 1] == out[0, 8, 1] == 10.0           # y: every joint's is 10
    assert out[0, 3, 2] == 0 and out[0, 8, 2] == 0
    assert np.array_equal(np.delete(out[0], [3, 8], 0), np.delete(pose[0], [3, 8], 0))


def test_keypoint_noise_and_moves():
    pose = walking_pose(t_len=6)
    data = {"2_pose": pose, "1_sil": np.arange(6 * 4, dtype=np.uint8).reshape(6, 2, 2)}
    run = lambda spec, seed: build_transform([spec], "t")(dict(data), np.random.default_rng(seed))  # noqa: E731
    joint = run({"type": "JointNoise", "std": 2.0}, 0)["2_pose"] - pose
    assert np.allclose(joint, joint[:1], atol=1e-5) and np.all(joint[..., 2] == 0)   # per joint, every frame
    assert 0.5 < joint[0, :, :2].std() < 4
    point = run({"type": "PointNoise", "std": 0.5}, 0)["2_pose"] - pose
    assert not np.allclose(point, point[:1]) and np.abs(point[..., 2]).max() > 0      # confidence too
    move = run({"type": "RandomMove", "random_r": [4, 1]}, 0)["2_pose"] - pose
    dx, dy = move[0, 0, 0], move[0, 0, 1]
    assert np.allclose(move[..., 0], dx, atol=1e-4) and np.allclose(move[..., 1], dy, atol=1e-4)
    assert abs(dx) <= 4 and abs(dy) <= 1 and np.all(move[..., 2] == 0)
    flips = [run({"type": "FlipSequence", "probability": 0.5}, s) for s in range(20)]
    reversed_ = [np.array_equal(f["2_pose"], pose[::-1]) and np.array_equal(f["1_sil"], data["1_sil"][::-1])
                 for f in flips]
    kept = [np.array_equal(f["2_pose"], pose) for f in flips]
    assert all(r or k for r, k in zip(reversed_, kept)) and 0 < sum(reversed_) < 20
    swapped = run({"type": "InversePosesPre", "probability": 0.5}, 3)["2_pose"]
    flip = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    per_frame = [np.array_equal(swapped[t], pose[t, flip]) for t in range(6)]
    same = [np.array_equal(swapped[t], pose[t]) for t in range(6)]
    assert all(a or b for a, b in zip(per_frame, same)) and 0 < sum(per_frame) < 6
    with pytest.raises(ConfigError, match="acts on the keypoints"):
        build_transform([{"type": "JointNoise"}], "t")({"1_sil": data["1_sil"]}, np.random.default_rng(0))


def test_supervised_contrastive_loss_by_hand():
    feats = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    loss, info = LossAggregator([{"type": "SupConLoss_Lp", "temperature": 0.5, "log_prefix": "SupConLoss"}])(
        {"SupConLoss": {"features": feats, "labels": labels}})
    unit = [[v / math.hypot(*f) for v in f] for f in feats.tolist()]
    terms = []
    for i in range(4):
        sims = {j: -math.dist(unit[i], unit[j]) / 0.5 for j in range(4) if j != i}
        log_denominator = math.log(sum(math.exp(v) for v in sims.values()))
        positives = [j for j in sims if labels[j] == labels[i]]
        terms.append(-sum(sims[j] - log_denominator for j in positives) / len(positives))
    assert float(loss) == pytest.approx(np.mean([t for t in terms if t > 0]), rel=1e-5)
    assert float(info["scalar/SupConLoss/loss"]) == pytest.approx(float(loss))
    alone = LossAggregator([{"type": "SupConLoss_Lp", "log_prefix": "SupConLoss"}])(
        {"SupConLoss": {"features": feats, "labels": torch.arange(4)}})[0]
    assert float(alone) == 0.0                           # no positive pair in the batch


def test_test_time_augmentation_and_lengths():
    torch.manual_seed(0)
    model = build_model({**CASIA_B, "input_branch": [5, 16, 8], "main_stream": [8, 16, 32], "num_class": 6}, 3)
    no_tta = build_model({**CASIA_B, "input_branch": [5, 16, 8], "main_stream": [8, 16, 32], "num_class": 6,
                          "tta": False}, 3)
    no_tta.load_state_dict(model.state_dict())
    model.eval(), no_tta.eval()
    poses = [walking_pose(t_len=n, seed=s) for n, s in ((14, 0), (9, 1))]
    one = lambda p: torch.tensor(gaitgraph_inputs(p), dtype=torch.float32)[None]  # noqa: E731
    with torch.no_grad():
        full = model({"2_pose": one(poses[0])})["inference_feat"]["embeddings"][0, :, 0]
        parts = [no_tta({"2_pose": one(p)})["inference_feat"]["embeddings"][0, :, 0]
                 for p in (poses[0], poses[0][::-1].copy(), poses[0][:, [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11,
                                                                         14, 13, 16, 15]])]
        torch.testing.assert_close(full, torch.cat(parts), rtol=1e-5, atol=1e-6)
        # A padded batch of two lengths: each sequence embeds as it does alone.
        batch = torch.zeros(2, 14, 17, 3, 5)
        batch[0], batch[1, :9] = one(poses[0])[0], one(poses[1])[0]
        together = model({"2_pose": batch}, torch.tensor([14, 9]))["inference_feat"]["embeddings"]
        for got, pose in zip(together, poses):
            torch.testing.assert_close(got, model({"2_pose": one(pose)})["inference_feat"]["embeddings"][0])
    assert model_inputs(CASIA_B) == ("2_pose",)
    with pytest.raises(ConfigError, match="needs the multi-input keypoints"):
        model({"2_pose": torch.rand(1, 9, 17, 3)})
    for bad, message in [({"block": "Wide"}, "block: 'Wide' is not one of"),
                         ({"input_num": 2}, "input_num: 2"), ({"main_stream": [16, 64]}, "branches' last width"),
                         ({"joint_format": "h36m"}, "joint_format: 'h36m' is not one of")]:
        with pytest.raises(ConfigError, match=message):
            build_model({**CASIA_B, **bad}, 3)


def test_common_sampler_draws_random_batches():
    cfg = {"sample_type": "fixed_ordered", "frames_num_fixed": 30}
    sampler = CommonSampler(100, 32, cfg, seed=1)
    first = [r.index for r in sampler.batch(0)]
    assert len(first) == len(set(first)) == 32                          # without replacement
    assert first == [r.index for r in CommonSampler(100, 32, cfg, seed=1).batch(0)]   # reproducible
    assert first != [r.index for r in sampler.batch(1)]
    assert first != [r.index for r in CommonSampler(100, 32, cfg, seed=1, rank=1).batch(0)]
    small = [r.index for r in CommonSampler(10, 32, cfg).batch(0)]     # fewer sequences than asked
    assert len(small) == 32 and set(small) <= set(range(10))
