"""Same inputs, same outputs as OpenGait's pretreatment? Silhouettes and skeleton maps compared.

On a synthetic CASIA-B set (generated unless --data is given):

- silhouettes: our rearrange_to_grew.py (--no-poses --no-quality-filter) against OpenGait's
  rule applied to the same PNGs: frames kept and bytes of every 1_sil.pkl;
- skeleton maps: our skeleton_maps() against OpenGait's pretreatment_heatmap chain on the same
  poses: mean absolute difference per channel (grey levels) on frames whose 17 joints are all
  present (OpenGait imputes missing joints with KNN, we interpolate them over time), and on
  every frame for information; and frames/s of both on one core.

With --opengait DIR (a checkout of OpenGait) its own datasets/pretreatment.py and
datasets/pretreatment_heatmap.py are the reference (they need scikit-learn, einops-free);
without it the literal write-up of the same rules in tests/opengait_rules.py is.

    python benchmarks/bench_opengait_agreement.py [--opengait ~/OpenGait] [--data data/synthetic_casia_b]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from datasets_preprocess.casia_b.casia_b_layout import sequence_folders  # noqa: E402
from gaitcore.atomic_files import atomic_write_report  # noqa: E402
from gaitcore.cli import UserInputError, run_script  # noqa: E402
from gaitcore.pose_files import read_pose_json  # noqa: E402
from gaitcore.pretreated_io import list_sequences, read_sequence  # noqa: E402
from gaitcore.safe_pickle import load_pickle  # noqa: E402
from gaitcore.skeleton_maps import skeleton_maps  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--opengait", help="an OpenGait checkout to compare against (default: the literal rules "
                                      "in tests/opengait_rules.py)")
    p.add_argument("--data", help="synthetic casia_b root (default: generate 3 subjects x 3 types x 11 views)")
    p.add_argument("--scratch", default=str(REPO / "output/bench/opengait_agreement"),
                   help="working folder (default output/bench/opengait_agreement)")
    p.add_argument("--out", default=str(REPO / "benchmarks/results/opengait_agreement.md"),
                   help="markdown result (a .json is written next to it)")
    args = p.parse_args(argv)
    if args.opengait and not (Path(args.opengait) / "datasets" / "pretreatment_heatmap.py").is_file():
        p.error(f"--opengait {args.opengait}: no datasets/pretreatment_heatmap.py there")
    return args


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Reference:
    """OpenGait's own functions, or the literal rules of the tests."""

    def __init__(self, opengait: str | None):
        self.name = ("OpenGait's datasets/pretreatment*.py" if opengait
                     else "tests/opengait_rules.py (skeleton maps on every 10th frame)")
        self.slow = not opengait
        if opengait:
            pre = load_module(Path(opengait) / "datasets" / "pretreatment.py", "og_pretreatment")
            heat = load_module(Path(opengait) / "datasets" / "pretreatment_heatmap.py", "og_heatmap")
            self._imgs2pickle = pre.imgs2pickle
            self._heatmaps = heat.GenerateHeatmapTransform(
                coco18tococo17_args={"transfer_to_coco17": False},
                padkeypoints_args={"pad_method": "knn", "use_conf": True},
                norm_args={"pose_format": "coco", "use_conf": True, "heatmap_image_height": 128},
                heatmap_generator_args={"sigma": 8.0, "use_score": True, "img_h": 128, "img_w": 128},
                align_args={"align": True, "final_img_size": 64, "offset": 0, "heatmap_image_size": 128})
        else:
            sys.path.insert(0, str(REPO / "tests"))
            import opengait_rules
            self._rules = opengait_rules
            self._imgs2pickle = self._heatmaps = None
        self.sil_seconds = 0.0          # time spent in the reference's silhouette pretreatment

    def silhouettes(self, pngs: list[Path], scratch: Path) -> np.ndarray | None:
        if self._imgs2pickle is not None:
            out = scratch / "og_sils"
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            self._imgs2pickle((("s", "t", "v"), pngs), out, 64)
            self.sil_seconds += time.perf_counter() - start
            path = out / "s" / "t" / "v" / "v.pkl"
            if not path.exists():
                return None
            return load_pickle(path)        # the restricted loader, as for every .pkl we read
        frames = [a for a in (self._rules.align_like_opengait(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))
                              for p in sorted(pngs)) if a is not None]
        return np.stack(frames) if frames else None

    def maps(self, poses: np.ndarray) -> np.ndarray:
        if self._heatmaps is not None:
            return self._heatmaps(poses.astype(np.float64).copy())
        return np.stack([self._rules.skeleton_map_like_opengait(p) for p in poses])


def main(args: argparse.Namespace) -> int:
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    raw = Path(args.data) if args.data else scratch / "raw"
    if not args.data and not (raw / "generation.json").exists():
        subprocess.run([sys.executable, str(REPO / "datasets_preprocess/synthetic/make_synthetic_gait.py"),
                        "--out", str(raw), "--subjects", "3", "--types", "nm-01,bg-01,cl-01",
                        "--frames", "30", "--keypoint-noise", "0.055"], check=True)
    if not (raw / "silhouettes").is_dir():
        raise UserInputError(f"{raw}: no silhouettes/ folder (a casia_b layout from make_synthetic_gait.py)")
    ref = Reference(args.opengait)
    # Silhouettes: our script's output, every sequence as a training one without filtering.
    work = scratch / "ours"
    shutil.rmtree(work, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "datasets_preprocess/casia_b/rearrange_to_grew.py"),
                    "--silhouettes", str(raw / "silhouettes"), "--out", str(work), "--no-poses",
                    "--no-quality-filter", "--workers", "1"], check=True, capture_output=True)
    ours_sil_seconds = time.perf_counter() - start       # the whole script: start-up, logs and all
    ours = {r.key: read_sequence(r.path)["1_sil"] for r in list_sequences(work / "pretreated")}
    folders = sequence_folders(raw / "silhouettes", "silhouettes")
    sil = {"sequences": 0, "identical": 0, "frames_ours": 0, "frames_reference": 0}
    for key, folder in sorted(folders.items()):
        expected = ref.silhouettes(sorted(folder.glob("*.png")), scratch)
        got = ours.get(key)
        sil["sequences"] += 1
        sil["frames_ours"] += 0 if got is None else len(got)
        sil["frames_reference"] += 0 if expected is None else len(expected)
        same = (got is None and expected is None) or (
            got is not None and expected is not None and got.shape == expected.shape
            and got.tobytes() == expected.tobytes())
        sil["identical"] += int(same)
    # Skeleton maps on the ground-truth-with-noise poses.
    poses = [read_pose_json(p)[1] for p in sorted((raw / "poses").glob("*.json"))]
    if ref.slow:                      # the literal rules draw pixel by pixel: every 10th frame
        poses = [p[::10] for p in poses]
    complete = np.concatenate([p[(p[..., 2] > 0).all(1)] for p in poses])
    diff_complete = np.abs(skeleton_maps(complete).astype(int) - ref.maps(complete).astype(int))
    every = [np.abs(skeleton_maps(p).astype(int) - ref.maps(p).astype(int)) for p in poses]
    diff_every = np.concatenate(every)
    frames = sum(len(p) for p in poses)
    start = time.perf_counter()
    for p in poses:
        skeleton_maps(p)
    ours_fps = frames / (time.perf_counter() - start)
    start = time.perf_counter()
    for p in poses:
        ref.maps(p)
    ref_fps = frames / (time.perf_counter() - start)
    result = {
        "reference": ref.name, "silhouettes": sil,
        "maps_complete_frames": len(complete),
        "maps_mad_complete": [round(float(v), 4) for v in diff_complete.mean(axis=(0, 2, 3))],
        "maps_worst_frame_mad_complete": [round(float(v), 4) for v in diff_complete.mean(axis=(2, 3)).max(0)],
        "maps_mad_all_frames": [round(float(v), 4) for v in diff_every.mean(axis=(0, 2, 3))],
        "maps_frames": frames, "maps_fps_ours": round(ours_fps, 1), "maps_fps_reference": round(ref_fps, 1),
        "speedup": round(ours_fps / ref_fps, 1),
        "silhouettes_seconds_ours": round(ours_sil_seconds, 2),
        "silhouettes_seconds_reference": round(ref.sil_seconds, 2) if ref.sil_seconds else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": "python benchmarks/bench_opengait_agreement.py" + ("" if not args.opengait else " --opengait <checkout>"),
    }
    lines = ["# Agreement with OpenGait's pretreatment", "", "```", result["command"], "```", "",
             f"Reference: {ref.name}. Synthetic CASIA-B ({sil['sequences']} sequences). {result['machine']}.", "",
             "| what | result |", "| --- | --- |",
             f"| `1_sil.pkl` identical (frames kept and bytes) | {sil['identical']} of {sil['sequences']} sequences "
             f"({sil['frames_ours']} / {sil['frames_reference']} frames) |",
             f"| skeleton maps, mean abs. difference (limb, joint), {len(complete)} frames with 17 joints | "
             f"{result['maps_mad_complete'][0]:.3f}, {result['maps_mad_complete'][1]:.3f} grey levels "
             f"(worst frame {result['maps_worst_frame_mad_complete'][0]:.3f}, "
             f"{result['maps_worst_frame_mad_complete'][1]:.3f}) |",
             f"| skeleton maps, all {frames} frames (missing joints filled differently) | "
             f"{result['maps_mad_all_frames'][0]:.3f}, {result['maps_mad_all_frames'][1]:.3f} |",
             f"| skeleton maps frames/s on one core, ours / reference | {ours_fps:.0f} / {ref_fps:.0f} "
             f"({result['speedup']}x) |"]
    if ref.sil_seconds:
        lines.append(f"| silhouettes end to end in one process (PNG decoding, alignment, pickles), ours "
                     f"(the whole `rearrange_to_grew.py --workers 1` run) / OpenGait's `imgs2pickle` | "
                     f"{ours_sil_seconds:.1f} s / {ref.sil_seconds:.1f} s "
                     f"({ref.sil_seconds / ours_sil_seconds:.1f}x faster) |")
    atomic_write_report(args.out, lines, result)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
