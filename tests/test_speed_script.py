"""benchmarks/run_speed.py end to end in its quick mode: every section and number is there."""
from __future__ import annotations

import json

import pytest

from conftest import run_script


@pytest.mark.slow
def test_quick_speed_run_writes_every_figure(tmp_path, pretreated_casia):
    result = run_script("benchmarks/run_speed.py", "--quick", "--models", "GaitBase,HybridGait",
                        "--data", pretreated_casia, "--out", tmp_path, "--scratch", tmp_path / "scratch",
                        "--eval-size", "200", timeout=1500)
    assert "speed figures in" in result.stdout
    data = json.loads((tmp_path / "speed.json").read_text())
    assert set(data["preprocess"]["compute"]) == {"1", "2"}
    assert all(r["alignment_fps"] > 0 and r["skeleton_map_fps"] > 0 for r in data["preprocess"]["compute"].values())
    assert [r["model"] for r in data["training"]] == ["GaitBase", "HybridGait"]
    for row in data["training"]:
        assert {"fp32 (cpu)", "bf16 (cpu)"} <= set(row["steps"]) and all(s > 0 for s in row["steps"].values())
        assert row["peak_rss_mib"] > row["rss_after_imports_mib"] > 50
    assert set(data["loader"]) >= {"cache", "no cache"} and data["loader"]["cache"]["sequences_per_s"] > 0
    assert data["evaluation"]["n"] == 1000 and data["evaluation"]["top20_s"] > 0
    text = (tmp_path / "speed.md").read_text()
    for heading in ("## Preprocessing", "## Data loader", "## Training step", "## Evaluation"):
        assert heading in text
    assert "not GPU figures" in text or "CPU figures" in text
