"""benchmarks/run_speed.py: end to end in its quick mode (every section and number is there),
and --quick with an explicit --eval-size refused before any work."""
from __future__ import annotations

import json

import pytest

from conftest import run_script


@pytest.mark.slow
def test_quick_speed_run_writes_every_figure(tmp_path):
    raw, work = tmp_path / "raw", tmp_path / "work"      # 8 subjects: 5 train ids for the 4 x 3 loader
    run_script("datasets_preprocess/synthetic/make_synthetic_gait.py", "--out", raw, "--subjects", "8",
               "--types", "nm-01,nm-02,cl-01", "--views", "090", "--frames", "12")
    run_script("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes", raw / "silhouettes",
               "--pose-from", raw / "poses", "--out", work)
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", raw / "silhouettes",
               "--out", work)
    result = run_script("benchmarks/run_speed.py", "--quick", "--raw", raw, "--models", "GaitBase,HybridGait",
                        "--precisions", "fp32", "--data", work, "--out", tmp_path, "--scratch", tmp_path / "scratch",
                        timeout=1500)
    assert "speed figures in" in result.stdout
    data = json.loads((tmp_path / "speed.json").read_text())
    assert set(data["preprocess"]["compute"]) == {"1", "2"}
    assert all(r["alignment_fps"] > 0 and r["skeleton_map_fps"] > 0 for r in data["preprocess"]["compute"].values())
    assert [r["model"] for r in data["training"]] == ["GaitBase", "HybridGait"]
    for row in data["training"]:
        assert set(row["steps"]) == {"fp32 (cpu)"} and row["steps"]["fp32 (cpu)"] > 0
        assert row["peak_rss_mib"] > row["rss_after_imports_mib"] > 50
    assert set(data["loader"]) >= {"cache", "no cache"} and data["loader"]["cache"]["sequences_per_s"] > 0
    assert data["evaluation"]["n"] == 1000 and data["evaluation"]["top20_s"] > 0     # --quick's size
    text = (tmp_path / "speed.md").read_text()
    for heading in ("## Preprocessing", "## Data loader", "## Training step", "## Evaluation"):
        assert heading in text
    assert "**These are CPU figures;" in text


def test_quick_with_an_explicit_eval_size_is_refused_before_any_work(tmp_path):
    """--quick fixes N at 1000; an explicit --eval-size beside it is a contradiction, refused
    with one argparse error line (exit 2) before anything is measured or written."""
    result = run_script("benchmarks/run_speed.py", "--quick", "--eval-size", "200", "--out", tmp_path / "out",
                        "--scratch", tmp_path / "scratch", check=False, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors == ["run_speed.py: error: --quick sets the evaluation size to 1000; "
                      "drop --eval-size 200 or --quick"]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "scratch").exists()


def test_the_profile_sorts_operators_into_the_kinds_the_readme_names():
    """benchmarks/profile_train_step.py: each profiled ATen operator lands in its kind, by hand."""
    import sys
    from conftest import REPO_ROOT
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from profile_train_step import KINDS, kind_of
    expected = {
        "aten::convolution_backward": "convolution", "aten::mkldnn_convolution": "convolution",
        "aten::slow_conv3d_forward": "convolution", "aten::bmm": "matrix product", "aten::addmm": "matrix product",
        "aten::native_batch_norm": "normalisation", "aten::native_batch_norm_backward": "normalisation",
        "aten::native_layer_norm": "normalisation", "aten::copy_": "data movement", "aten::cat": "data movement",
        "aten::index_select": "data movement", "aten::threshold_backward": "element-wise",
        "aten::relu_": "element-wise", "aten::add_": "element-wise", "aten::clamp_min_": "element-wise",
        "aten::max": "pooling / reduction", "aten::mean": "pooling / reduction",
        "aten::max_pool2d_with_indices": "pooling / reduction", "aten::empty": "other",
        "autograd::engine::evaluate_function: ConvolutionBackward0": "other",
        "Optimizer.step#SGD.step": "other",
    }
    assert {op: kind_of(op) for op in expected} == expected
    assert set(expected.values()) == set(KINDS)
