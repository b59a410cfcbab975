"""The clothing-study script end to end at toy size: structure of its outputs, not accuracy."""
from __future__ import annotations

import json

import cv2
import pytest

from conftest import run_script

STUDY = "benchmarks/run_clothing_study.py"


@pytest.mark.slow
def test_tiny_study_writes_table_plot_json_and_reuses_runs(tmp_path):
    args = ["--models", "GaitBase,HybridGait w/o UL", "--subjects", "8", "--views", "090,180",
            "--frames", "10", "--iterations", "3", "--seeds", "0,1", "--work", tmp_path / "work",
            "--results", tmp_path / "results"]
    first = run_script(STUDY, *args, timeout=1200)
    assert "2 models x 2 seeds, 4 runs trained, 0 reused" in first.stdout
    payload = json.loads((tmp_path / "results" / "clothing_study.json").read_text())
    assert list(payload["table"]) == ["GaitBase", "HybridGait w/o UL"]
    for entry in payload["table"].values():
        for cond in ("NM", "BG", "CL"):
            values = entry[cond]["per_seed"]
            assert len(values) == 2 and all(0 <= v <= 100 for v in values)
            assert entry[cond]["mean"] == pytest.approx(sum(values) / 2, abs=0.01)
        assert entry["mean_seconds_per_run"] > 0
    assert [r["seed"] for r in payload["runs"]["GaitBase"]] == [0, 1]
    table = (tmp_path / "results" / "clothing_study.md").read_text()
    assert "| GaitBase |" in table and "| HybridGait w/o UL |" in table and "run_clothing_study.py" in table
    image = cv2.imread(str(tmp_path / "results" / "clothing_study.png"))
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 400
    # The UL switch reached the model: its saved config has ul_weighting off.
    configs = list((tmp_path / "work" / "runs").rglob("config.yaml"))
    assert any("ul_weighting: false" in c.read_text() for c in configs)
    again = run_script(STUDY, *args, timeout=600)
    assert "0 runs trained, 4 reused" in again.stdout
    assert json.loads((tmp_path / "results" / "clothing_study.json").read_text())["table"] == payload["table"]


def test_unknown_model_is_refused():
    bad = run_script(STUDY, "--models", "GaitBase,NoSuchNet", check=False)
    assert bad.returncode == 2 and "unknown NoSuchNet" in bad.stderr
