"""Peak training memory measured in a fresh process, and the batch-size projection of
benchmarks/fit_batch.py, against hand-computed cases."""
from __future__ import annotations

import sys

import pytest
import yaml

from conftest import REPO_ROOT
from opengait.engine.memory import measure_step

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from fit_batch import cpu_projection, measured_points  # noqa: E402

GIB = 2 ** 30


def test_projection_by_hand():
    # fp32: 1.0 GiB at P 1, 1.5 GiB at P 2 -> 0.5 GiB per P, 0.5 GiB fixed. FP16 on a GPU:
    # 0.5 + 2 bytes x 2**28 parameters (0.5 GiB of fp16 weight copies) + 0.25 GiB per P.
    points = {1: {"measured_bytes": 1.0 * GIB}, 2: {"measured_bytes": 1.5 * GIB}}
    fit = cpu_projection(points, 2 ** 28, budget=3.0 * GIB, max_p=64)
    assert fit["slope_bytes_per_p_fp32"] == 0.5 * GIB and fit["intercept_bytes_fp32"] == 0.5 * GIB
    assert fit["fp16_projection"](4) == 2.0 * GIB
    assert fit["largest_p"] == 8                           # 0.5 + 0.5 + 0.25 x 8 = 3.0 GiB
    # Three points: a flat first segment (a moment with a large fixed part is the peak at P 1),
    # then the steep one; the line goes through the two largest.
    points = {1: {"measured_bytes": 2.0 * GIB}, 2: {"measured_bytes": 2.25 * GIB},
              4: {"measured_bytes": 3.25 * GIB}}
    fit = cpu_projection(points, 0, budget=3.0 * GIB, max_p=64)
    assert fit["segment_slopes_bytes_per_p"] == [0.25 * GIB, 0.5 * GIB]
    assert fit["intercept_bytes_fp32"] == 1.25 * GIB and fit["largest_p"] == 7   # 1.25 + 0.25 x 7
    assert measured_points("auto", 4) == [1, 2, 4] and measured_points("auto", 16) == [1, 2]
    assert measured_points("3,1", 4) == [1, 3]
    from gaitcore.errors import UserInputError
    with pytest.raises(UserInputError, match="--points 2"):
        measured_points("2", 4)
    with pytest.raises(UserInputError, match="did not grow"):
        cpu_projection({1: {"measured_bytes": GIB}, 2: {"measured_bytes": GIB}}, 0, GIB, 8)


@pytest.mark.slow
def test_measured_peak_grows_with_the_batch_and_checkpointing_lowers_it(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({
        "model_cfg": {"model": "SkeletonGaitPP", "Backbone": {"blocks": [1, 2, 2, 1], "C": 0.5}},
        "loss_cfg": [{"type": "TripletLoss", "margin": 0.2, "log_prefix": "triplet"},
                     {"type": "CrossEntropyLoss", "scale": 16, "log_prefix": "softmax"}],
        "data_cfg": {"dataset_name": "CASIA-B", "dataset_root": str(tmp_path), "dataset_partition": "x.json"}}))
    one = measure_step(cfg, 1, 2, 16, threads=1)
    three = measure_step(cfg, 3, 2, 16, threads=1)
    ckpt = measure_step(cfg, 3, 2, 16, ["model_cfg.checkpoint_stages=[1,2,3,4]"], threads=1)
    assert three["measured_bytes"] > 2 * one["measured_bytes"] * 0.8
    # The peak holds at least what autograd saves plus weights, gradients and momentum.
    assert three["measured_bytes"] >= 0.9 * three["estimate_bytes"]
    assert ckpt["measured_bytes"] < 0.6 * three["measured_bytes"], (ckpt, three)
    with pytest.raises(RuntimeError, match="checkpoint_stages"):
        measure_step(cfg, 1, 2, 8, ["model_cfg.checkpoint_stages=[7]"], threads=1)


def test_process_peak_memory_resets_and_counts_only_this_process():
    """200 MiB of fresh pages, written and freed: the peak since the reset holds them; after
    another reset the peak is back near the resident set (ru_maxrss could never come down).
    The pages come from their own anonymous mapping: an ordinary allocation could reuse memory
    the allocator still holds from earlier tests in this process, which is resident already."""
    import mmap

    from gaitcore.process_memory import peak_rss_bytes, reset_peak_rss, rss_bytes
    mib = 2 ** 20
    reset_peak_rss()
    base = rss_bytes()
    block = mmap.mmap(-1, 200 * mib)
    for offset in range(0, 200 * mib, mmap.PAGESIZE):   # every page written
        block[offset] = 1
    block.close()
    assert peak_rss_bytes() - base >= 0.95 * 200 * mib      # the block, whatever the allocator
    reset_peak_rss()
    assert peak_rss_bytes() - rss_bytes() < 0.25 * 200 * mib              # the block is no longer counted
