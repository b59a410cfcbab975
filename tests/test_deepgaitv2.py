"""DeepGaitV2 (and SkeletonGait, DeepGaitV2 on skeleton maps) is OpenGait's: the same parameter
names and counts, and an OpenGait checkpoint gives the embeddings of a literal write-up of
OpenGait's forward pass (tests/opengait_reference_forward.py)."""
from __future__ import annotations

import pytest
import torch

from opengait_reference_forward import KEYS, deepgaitv2_forward, random_opengait_state
from opengait.engine.checkpoint import load_checkpoint, load_model_weights, opengait_to_ours
from opengait.modeling.registry import build_model, model_inputs

CHANNELS = [64, 128, 256, 512]
FAMILIES = {   # key list -> OpenGait's model_cfg
    "deepgaitv2_p3d": {"Backbone": {"mode": "p3d", "in_channels": 1, "layers": [1, 1, 1, 1], "channels": CHANNELS},
                       "SeparateBNNecks": {"class_num": 74}},
    "deepgaitv2_p3d_1441": {"Backbone": {"mode": "p3d", "in_channels": 1, "layers": [1, 4, 4, 1], "channels": CHANNELS},
                            "SeparateBNNecks": {"class_num": 3000}},
    "deepgaitv2_2d": {"Backbone": {"mode": "2d", "in_channels": 1, "layers": [1, 1, 1, 1], "channels": CHANNELS},
                      "SeparateBNNecks": {"class_num": 74}},
    "deepgaitv2_3d": {"Backbone": {"mode": "3d", "in_channels": 1, "layers": [1, 1, 1, 1], "channels": CHANNELS},
                      "SeparateBNNecks": {"class_num": 74}},
    "skeletongait": {"Backbone": {"mode": "p3d", "in_channels": 2, "layers": [1, 1, 1, 1], "channels": CHANNELS},
                     "SeparateBNNecks": {"class_num": 100}, "use_emb2": True},
}
# OpenGait's parameter counts (weights that learn; read off its models).
OPENGAIT_PARAMETERS = {"deepgaitv2_p3d": 8_339_392, "deepgaitv2_p3d_1441": 25_492_160,
                       "deepgaitv2_2d": 7_305_408, "deepgaitv2_3d": 16_595_136, "skeletongait": 8_446_464}
TINY = {"model": "DeepGaitV2", "Backbone": {"mode": "p3d", "channels": [8, 8, 16, 16]}, "bin_num": [4]}


def model_cfg(family):
    return {"model": "DeepGaitV2", **FAMILIES[family]}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_parameter_names_shapes_and_counts_are_opengaits(family):
    cfg = model_cfg(family)
    model = build_model(cfg, cfg["SeparateBNNecks"]["class_num"])
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    mapped = {opengait_to_ours(k, cfg): shape for k, shape in KEYS[family]}
    assert len(mapped) == len(KEYS[family]) and mapped == ours
    assert sum(p.numel() for p in model.parameters()) == OPENGAIT_PARAMETERS[family]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_an_opengait_checkpoint_embeds_as_opengaits_forward(family, tmp_path):
    cfg = model_cfg(family)
    state = random_opengait_state(family, seed=3)
    path = tmp_path / "DeepGaitV2-60000.pt"
    torch.save({"model": state, "optimizer": {}, "scheduler": {}, "iteration": 60000}, path)
    loaded = load_checkpoint(path, cfg)
    assert loaded["format"] == "opengait" and loaded["num_classes"] == cfg["SeparateBNNecks"]["class_num"]
    model = build_model(cfg, loaded["num_classes"]).eval()
    load_model_weights(model, loaded, path)
    in_ch = cfg["Backbone"]["in_channels"]
    x = torch.rand(2, in_ch, 5, 64, 44, generator=torch.Generator().manual_seed(1))
    inputs = {"1_sil": x[:, 0]} if in_ch == 1 else {"0_heatmap": x.transpose(1, 2)}
    with torch.no_grad():
        ours = model(inputs)["inference_feat"]["embeddings"]
        theirs = deepgaitv2_forward(state, x, cfg["Backbone"]["mode"], cfg["Backbone"]["layers"],
                                    cfg.get("use_emb2", False))
    assert ours.shape == theirs.shape == (2, 256, 16)
    assert float((ours - theirs).abs().max()) <= 1e-5 * max(1.0, float(theirs.abs().max()))


@pytest.mark.parametrize("mode", ["2d", "p3d", "3d"])
def test_a_padded_batch_embeds_each_sequence_as_alone(mode):
    cfg = {**TINY, "Backbone": {**TINY["Backbone"], "mode": mode}}
    model = build_model(cfg, 5).eval()
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 7, 32, 22, generator=g), torch.rand(1, 4, 32, 22, generator=g)
    batch = torch.zeros(2, 7, 32, 22)
    batch[0], batch[1, :4] = a[0], b[0]
    with torch.no_grad():
        together = model({"1_sil": batch}, torch.tensor([7, 4]))["inference_feat"]["embeddings"]
        alone = [model({"1_sil": s})["inference_feat"]["embeddings"][0] for s in (a, b)]
    for got, want in zip(together, alone):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_use_emb2_and_in_channels_pick_the_embedding_and_the_input():
    torch.manual_seed(0)
    plain = build_model(TINY, 5).eval()
    emb2 = build_model({**TINY, "use_emb2": True}, 5).eval()
    emb2.load_state_dict(plain.state_dict())
    sils = torch.rand(2, 6, 32, 22)
    with torch.no_grad():
        out1, out2 = plain({"1_sil": sils}), emb2({"1_sil": sils})
    torch.testing.assert_close(out1["training_feat"]["triplet"]["embeddings"], out1["inference_feat"]["embeddings"])
    assert not torch.allclose(out2["inference_feat"]["embeddings"], out1["inference_feat"]["embeddings"])
    # use_emb2: the BNNeck's output, L2-normalised per part.
    norms = out2["inference_feat"]["embeddings"].norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    maps_cfg = {**TINY, "Backbone": {**TINY["Backbone"], "in_channels": 2}}
    assert model_inputs(TINY) == ("1_sil",) and model_inputs(maps_cfg) == ("0_heatmap",)
    skeleton = build_model(maps_cfg, 5).eval()
    with torch.no_grad():
        assert skeleton({"0_heatmap": torch.rand(2, 6, 2, 32, 22)})["inference_feat"]["embeddings"].shape == (2, 16, 4)
    from opengait.config import ConfigError
    with pytest.raises(ConfigError, match="needs the modalities 0_heatmap"):
        skeleton({"1_sil": sils})
    with pytest.raises(ConfigError, match="in_channels: 2, but the skeleton maps have 3 channels"):
        skeleton({"0_heatmap": torch.rand(2, 6, 3, 32, 22)})
    with pytest.raises(ConfigError, match="mode: 'p4d' is not one of 2d, p3d, 3d"):
        build_model({**TINY, "Backbone": {"mode": "p4d"}}, 5)
    with pytest.raises(ConfigError, match="Backbone has no setting 'block'"):
        build_model({**TINY, "Backbone": {"block": 1}}, 5)


@pytest.mark.parametrize("shape, stride", [((2, 3, 7, 5, 4), (1, 1, 1)), ((2, 3, 6, 9, 7), (1, 2, 2)),
                                           ((1, 4, 5, 8, 6), (1, 2, 1))])
def test_the_fast_temporal_and_pointwise_convs_equal_conv3d(shape, stride):
    """Our Conv3d stand-ins (computed as Conv2d / on strided positions) give nn.Conv3d's numbers and
    gradients, and keep its state dict, so OpenGait checkpoints load into them unchanged."""
    from opengait.modeling.modules import PointwiseConv3d, TemporalConv3d
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g)
    c = shape[1]
    cases = [(TemporalConv3d(c, 5, 3), dict(padding=(1, 0, 0), stride=1))] if stride == (1, 1, 1) else []
    cases.append((PointwiseConv3d(c, 5, stride), dict(stride=stride)))
    for conv, reference_options in cases:
        assert set(conv.state_dict()) == {"weight"}
        assert conv.weight.shape == (5, c, *conv.kernel_size)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours = conv(xa)
        reference = torch.nn.functional.conv3d(xb, conv.weight, **reference_options)
        assert ours.shape == reference.shape
        assert float((ours - reference).detach().abs().max()) < 1e-5
        grad = torch.randn(ours.shape, generator=g)
        w_ours = torch.autograd.grad(ours, [xa, conv.weight], grad)
        w_ref = torch.autograd.grad(reference, [xb, conv.weight], grad)
        for a, b in zip(w_ours, w_ref):
            assert float((a - b).abs().max()) < 1e-4


def test_a_temporal_conv_mixes_exactly_the_neighbouring_frames():
    """Hand check: weights 1 on the previous frame, 10 on the frame, 100 on the next, one channel."""
    from opengait.modeling.modules import TemporalConv3d
    conv = TemporalConv3d(1, 1, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 10.0, 100.0]).view(1, 1, 3, 1, 1))
    frames = torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 3, 1, 1).expand(1, 1, 3, 2, 2).contiguous()
    out = conv(frames)[0, 0, :, 0, 0]
    assert out.tolist() == [10 * 1 + 100 * 2, 1 * 1 + 10 * 2 + 100 * 3, 1 * 2 + 10 * 3]
