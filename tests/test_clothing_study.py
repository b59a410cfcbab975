"""The clothing-study script at toy size (structure of its outputs, reuse of run files) and its
statistics against hand-computed values."""
from __future__ import annotations

import json
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT, run_script

STUDY = "benchmarks/run_clothing_study.py"
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))


def test_paired_rows_use_the_same_seeds():
    from study import report_v2 as study
    runs = {"A": {0: {"v": 10.0}, 1: {"v": 12.0}, 2: {"v": 11.0}},
            "B": {0: {"v": 9.0}, 1: {"v": 9.0}}}                       # seed 2 of B is missing
    rows = study.paired_rows(runs, [("A - B", "A", "B")], ["x"], lambda r, _: r["v"])
    assert rows[0]["seeds"] == [0, 1] and rows[0]["x"]["per_seed"] == [1.0, 3.0]
    assert rows[0]["x"]["mean"] == 2.0


def test_loss_windows_by_hand():
    from study import report_v2 as study
    # 100 iterations: steps at 66 and 90, windows of 20 before the first step.
    curve = [10, 30, 50, 70, 95, 100]
    runs = {0: {"settings": {"iterations": 100}, "loss_curve": {"iteration": curve, "loss": [5, 4, 3, 2, 1, 1]}},
            1: {"settings": {"iterations": 100}, "loss_curve": {"iteration": curve, "loss": [7, 4, 5, 2, 3, 1]}}}
    assert study.loss_windows(runs) == {"(0, 10]": 6.0, "(26, 46]": 4.0, "(46, 66]": 4.0,
                                        "(66, 90]": 2.0, "(90, 100]": 1.5}


def test_report_states_the_keypoint_error_model():
    from study import report_v2 as study
    model = study.noise_model()
    # The calibrated estimator preset, as docs/synthetic-data.md lists it.
    assert model["spec"] == "estimator"
    assert model["parameters"]["swap_rate"] == 0.045 and model["parameters"]["coat_miss"] == 0.1
    assert model["parameters"]["drift_corr"] == 0.97 and model["parameters"]["miss_rate"] == 0.005
    made_up = {"spec": "estimator", "parameters": {"jitter": 0.005, "iid": False},
               "calibration_source": "x.json", "calibration": {"cl": {
                   "real": {"pck": 0.75, "median_error": 0.034, "lost": 0.05, "swap_frames": 0.4451},
                   "model": {"pck": 0.7194, "median_error": 0.042, "lost": 0.055, "swap_frames": 0.5}}}}
    lines = study.noise_model_lines(made_up)
    assert "`--keypoint-noise estimator`" in lines[2] and "jitter 0.005" in lines[2] and "iid" not in lines[2]
    assert "| cl | 0.750 / 0.719 | 0.034 / 0.042 | 0.050 / 0.055 | 0.445 / 0.500 |" in lines


@pytest.mark.slow
def test_tiny_study_writes_report_run_files_and_reuses_them(tmp_path):
    args = ["--arms", "casia_b", "--models", "GaitBase,HybridGait w/o UL", "--subjects", "8",
            "--views", "090,180", "--frames", "10", "--iterations", "4", "--seeds", "0,1",
            "--work", tmp_path / "work", "--results", tmp_path / "results"]
    first = run_script(STUDY, *args, timeout=1200)
    assert "4 runs, 0 finished already" in first.stdout
    runs = sorted((tmp_path / "results" / "clothing_study_runs" / "casia_b").glob("*.json"))
    assert [p.name for p in runs] == ["GaitBase_seed0.json", "GaitBase_seed1.json",
                                      "HybridGait_w_o_UL_seed0.json", "HybridGait_w_o_UL_seed1.json"]
    record = json.loads(runs[0].read_text())
    assert record["settings"]["data_seed"] == 0 and set(record["metrics"]) == {"NM", "BG", "CL"}
    assert record["loss_curve"]["iteration"] == [1, 2, 3, 4] and len(record["loss_curve"]["loss"]) == 4
    payload = json.loads((tmp_path / "results" / "clothing_study.json").read_text())
    table = payload["casia_b"]["table"]
    assert list(table) == ["GaitBase", "HybridGait w/o UL"] and table["GaitBase"]["seeds"] == [0, 1]
    values = [100 * json.loads(p.read_text())["metrics"]["CL"] for p in runs[:2]]
    assert table["GaitBase"]["CL"]["mean"] == pytest.approx(np.mean(values))
    md = (tmp_path / "results" / "clothing_study.md").read_text()
    assert "| GaitBase | 2 |" in md and "Paired differences" in md and "## Keypoint error model" in md
    # 4 iterations: lr steps at 2 and 3, so the last window (3, 4] holds each seed's last logged loss.
    last = np.mean([json.loads(p.read_text())["loss_curve"]["loss"][-1] for p in runs[:2]])
    assert payload["loss"]["casia_b: GaitBase"]["(3, 4]"] == pytest.approx(last)
    assert "## Training loss" in md and "| casia_b: GaitBase |" in md
    image = cv2.imread(str(tmp_path / "results" / "clothing_study.png"))
    assert image is not None and image.shape[1] > 600
    # Two seeds of different populations: the data differ.
    gen = [json.loads((tmp_path / "work" / "data" / f"casia_b_seed{s}_n8_f10_v2" / "generation.json").read_text())
           for s in (0, 1)]
    assert gen[0]["config"]["seed"] == 0 and gen[1]["config"]["seed"] == 1
    # The UL switch reached the model.
    assert any("ul_weighting: false" in c.read_text() for c in (tmp_path / "work" / "runs").rglob("config.yaml"))
    again = run_script(STUDY, *args, timeout=600)
    assert "4 runs, 4 finished already" in again.stdout
    rebuilt = run_script(STUDY, *args, "--report-only", timeout=600)
    assert json.loads((tmp_path / "results" / "clothing_study.json").read_text())["casia_b"] == payload["casia_b"]
    assert "report" in rebuilt.stdout


def test_unknown_model_is_refused():
    bad = run_script(STUDY, "--models", "GaitBase,NoSuchNet", check=False)
    assert bad.returncode == 2 and "unknown NoSuchNet" in bad.stderr


@pytest.mark.slow
def test_tiny_ccvid_arm_trains_with_oracle_and_dlcr_augmentation(tmp_path):
    args = ["--arms", "ccvid_aug", "--ccvid-subjects", "8", "--ccvid-frames", "8", "--ccvid-iterations", "4",
            "--ccvid-variants", "2", "--seeds", "0", "--work", tmp_path / "work", "--results", tmp_path / "results"]
    first = run_script(STUDY, *args, timeout=1500)
    assert "5 runs, 0 finished already" in first.stdout
    runs = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "results" / "clothing_study_runs" / "ccvid_aug").glob("*.json")}
    assert set(runs) == {"HybridGait_seed0", "HybridGait_p_oracle_aug_seed0", "SkeletonGaitpp_seed0",
                         "SkeletonGaitpp_p_oracle_aug_seed0", "HybridGait_p_DLCR_aug__tiny_random_SD_seed0"}
    for record in runs.values():
        assert set(record["metrics"]) >= {"test/ccvid_cc/rank1", "test/ccvid_general/mAP"}
    data = tmp_path / "work" / "data"
    # Both augmentation sources reached training: AUGMENTED_SET in the partitions the runs used,
    # augmented sequences in the pretreated roots, and the sampler share in the saved configs.
    for work in ("ccvid_seed0_n8_f8_work", "ccvid_seed0_n8_f8_dlcr_work"):
        partition = json.loads((data / work / "ccvid_aug.json").read_text())
        assert partition["AUGMENTED_SET"], work
        assert all(s.split("/")[1].startswith("aug") for s in partition["AUGMENTED_SET"])
    records = [json.loads(line) for line in (data / "ccvid_seed0_n8_f8_dlcr" / "inpainted" / "inpaint.jsonl").open()]
    assert records and {r["variant"] for r in records} == {0, 1}        # --ccvid-variants 2
    configs = [c.read_text() for c in (tmp_path / "work" / "runs").rglob("config.yaml")]
    assert sum("augmented_share: 0.25" in c for c in configs) == 3
    # The non-augmented sequences of the DLCR working folder are those of the base folder.
    base = json.loads((data / "ccvid_seed0_n8_f8_work" / "ccvid.json").read_text())
    again = json.loads((data / "ccvid_seed0_n8_f8_dlcr_work" / "ccvid.json").read_text())
    assert base == again
    md = (tmp_path / "results" / "clothing_study.md").read_text()
    assert "HybridGait: oracle aug - none" in md and "DLCR tiny random SD" in md and "in 2 outfits" in md


def test_study_hybridgait_is_the_full_model_whatever_the_shipped_default():
    """The study's HybridGait keeps cross-attention, ΔJoint, UL and the pose branch on even when
    the shipped config switches one of them off, and each ablation removes exactly its part."""
    from opengait.config import apply_override
    from study import design_v2 as study
    expected = {  # variant -> (pose_branch, delta_joint, ul_weighting, fusion), written out by hand
        "HybridGait": (True, True, True, "cross_attention"),
        "HybridGait w/o cross-attn": (True, True, True, "attention_gate"),
        "HybridGait w/o ΔJoint": (True, False, True, "cross_attention"),
        "HybridGait w/o UL": (True, True, False, "cross_attention"),
        "HybridGait w/o pose branch": (False, True, True, "cross_attention"),
    }
    for name, switches in expected.items():
        # A shipped default with every part off, as a later verdict could leave it.
        cfg = {"model_cfg": {"pose_branch": False, "delta_joint": False, "ul_weighting": False,
                             "fusion": "concat"}}
        for item in study.CASIA_VARIANTS[name].model_sets():
            apply_override(cfg, item)
        m = cfg["model_cfg"]
        assert (m["pose_branch"], m["delta_joint"], m["ul_weighting"], m["fusion"]) == switches, name
    ccvid = {"model_cfg": {"pose_branch": True, "delta_joint": False, "ul_weighting": True, "fusion": "concat"}}
    for item in study.CCVID_VARIANTS["SkeletonGait++ + oracle aug"].model_sets():
        apply_override(ccvid, item)
    assert ccvid["model_cfg"] == {"pose_branch": False, "delta_joint": True, "ul_weighting": False,
                                  "fusion": "attention_gate"}
    assert study.CASIA_VARIANTS["GaitBase"].model_sets() == []
    assert "AUG" not in study.CCVID_VARIANTS["HybridGait + oracle aug"].model_sets()
