"""ONNX export: onnxruntime's embeddings equal PyTorch's (eager, the reference) within 1e-4 for
GaitBase, SkeletonGait++, DeepGaitV2 and HybridGait, at a batch size and a frame count other
than the traced ones; the file records its model; without the optional extra, one line."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, run_script

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

CONFIGS = {
    "GaitBase": "opengait/configs/gaitbase/gaitbase_synthetic.yaml",
    "SkeletonGait++": "opengait/configs/skeletongait/skeletongait++_synthetic.yaml",
    "DeepGaitV2": "opengait/configs/deepgaitv2/deepgaitv2_synthetic.yaml",
    "HybridGait": "opengait/configs/hybridgait/hybridgait_synthetic.yaml",
}


def random_inputs(modalities, n: int, t: int, seed: int) -> dict[str, np.ndarray]:
    """Model inputs after the synthetic configs' evaluator transforms (32 x 22 images)."""
    rng = np.random.default_rng(seed)
    shapes = {"0_heatmap": (n, t, 2, 32, 22), "1_sil": (n, t, 32, 22)}
    out = {m: rng.random(shapes[m], dtype=np.float32) for m in modalities if m in shapes}
    if "2_pose" in modalities:                              # pixels of a 22 x 32 crop, confident
        xy = rng.random((n, t, 17, 2), dtype=np.float32) * np.array([22, 32], np.float32)
        out["2_pose"] = np.concatenate([xy, rng.uniform(0.5, 1, (n, t, 17, 1)).astype(np.float32)], -1)
    return out


@pytest.mark.slow                                   # 20-70 s per model (the exporter's tracing)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_onnxruntime_embeddings_equal_torch(name, tmp_path):
    from opengait.config import load_config
    from opengait.engine.onnx_model import OnnxModel, export
    from opengait.modeling.registry import build_model, model_inputs
    torch.manual_seed(0)
    cfg = load_config(REPO_ROOT / CONFIGS[name])
    model = build_model(cfg.model, 8).eval()
    modalities = model_inputs(cfg.model)
    example = {m: v[0] for m, v in random_inputs(modalities, 1, 24, seed=1).items()}
    identity = {"model": name, "model_cfg_sha256": "a" * 64, "checkpoint_sha256": "b" * 64, "iteration": 7}
    record = export(model, modalities, example, tmp_path / "m.onnx", identity)
    assert record["max_abs_diff_vs_torch"] <= 1e-4

    onnx_model = OnnxModel(tmp_path / "m.onnx", threads=1)
    assert onnx_model.identity == identity and onnx_model.modalities == tuple(modalities)
    for n, t in ((1, 24), (3, 17), (2, 41)):                   # other batch sizes and lengths
        data = random_inputs(modalities, n, t, seed=10 * n + t)
        rng = np.random.default_rng(t)
        frames = np.stack([np.sort(rng.choice(3 * t, t, replace=False)) for _ in range(n)])
        if name == "HybridGait":       # frames out of order: ΔJoint sorts them by their index
            frames = np.stack([rng.permutation(f) for f in frames])
        with torch.no_grad():
            expected = model({m: torch.from_numpy(v) for m, v in data.items()}, None,
                             torch.from_numpy(frames))["inference_feat"]["embeddings"].numpy()
        got = onnx_model.embed(data, frames)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


@pytest.mark.slow
def test_without_the_optional_extra_the_tools_say_what_to_install(tmp_path):
    """onnxruntime hidden from the child (as on an install without the extra): export and
    the onnxruntime backend stop in one line naming the requirements file, before any work."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text("import sys\nsys.modules['onnxruntime'] = None\n")
    env = {"PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
    (tmp_path / "m.onnx").write_bytes(b"")
    (tmp_path / "m.pt").write_bytes(b"")
    cfg = CONFIGS["GaitBase"]
    export = run_script("opengait/opengait/tools/export_onnx.py", "--cfgs", cfg, "--ckpt", tmp_path / "m.pt",
                        check=False, env=env)
    identify = run_script("opengait/opengait/tools/identify_walker.py", "--cfgs", cfg, "--ckpt", tmp_path / "m.onnx",
                          "--backend", "onnxruntime", "--gallery", tmp_path / "g.npz", "--video", tmp_path / "v.avi",
                          check=False, env=env)
    for result in (export, identify):
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-1500:]
        assert "onnxruntime is not installed" in result.stderr
        assert "pip install -r requirements-onnx.txt" in result.stderr
