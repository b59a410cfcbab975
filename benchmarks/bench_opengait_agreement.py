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
without it the literal write-up of the same rules in tests/opengait_rules.py is. With
--opengait the models are compared too (results/opengait_models.md): OpenGait's Baseline,
SkeletonGaitPP, DeepGaitV2 (2d, p3d, 3d, on skeleton maps) and GaitGraph2 classes, each under a
random OpenGait checkpoint loaded into ours: parameter counts and embedding differences (needs
einops; --skip-models leaves it out, --models-only does only that). With --opengait and --speed,
training steps, evaluation and this run's pretreatment are also timed side by side
(benchmarks/opengait_speed.py; results/opengait_speed.md).

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
from gaitcore.cli import run_script  # noqa: E402
from gaitcore.errors import UserInputError
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
    p.add_argument("--models-only", action="store_true",
                   help="with --opengait: only compare the models (written to --models-out), not the "
                        "pretreatment")
    p.add_argument("--skip-models", action="store_true",
                   help="with --opengait: leave out the model comparison (OpenGait's classes need einops)")
    p.add_argument("--models-out", default=str(REPO / "benchmarks/results/opengait_models.md"),
                   help="markdown result of the model comparison (a .json beside it)")
    p.add_argument("--speed", action="store_true",
                   help="with --opengait: also time both side by side (benchmarks/opengait_speed.py: training "
                        "steps of GaitBase, SkeletonGait++, DeepGaitV2, eager and compiled; evaluation; with the "
                        "pretreatment timings of this run) into --speed-out")
    p.add_argument("--speed-threads", type=int, default=1, help="threads of each speed measurement (default 1)")
    p.add_argument("--speed-out", default=str(REPO / "benchmarks/results/opengait_speed.md"),
                   help="markdown result of --speed (a .json beside it)")
    args = p.parse_args(argv)
    if args.speed and (args.models_only or not args.opengait):
        p.error("--speed needs --opengait and not --models-only")
    if args.models_only and (args.skip_models or not args.opengait):
        p.error("--models-only needs --opengait and no --skip-models")
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


# --- models: OpenGait's classes against ours under the same OpenGait checkpoint ---------------

def model_inputs_for(kind: str, generator):
    """(OpenGait's ipts[0], our inputs) for two sequences of 10 frames."""
    import torch
    if kind == "pose":
        from opengait.modeling.pose_graph import multi_input_features, skeleton_graph
        pose = torch.rand(2, 24, 17, 3, generator=generator) * torch.tensor([100.0, 200.0, 1.0])
        x = torch.stack([multi_input_features(p, skeleton_graph("coco")) for p in pose])
        return x, {"2_pose": x}
    sils = torch.rand(2, 10, 64, 44, generator=generator)
    maps = torch.rand(2, 10, 2, 64, 44, generator=generator)
    if kind == "sil":
        return sils, {"1_sil": sils}
    if kind == "maps":
        return maps, {"0_heatmap": maps}
    return torch.cat([maps, sils[:, :, None]], dim=2), {"0_heatmap": maps, "1_sil": sils}


def compare_models(checkout: str, scratch: Path) -> list[dict]:
    """Each case: OpenGait's model with random weights and statistics, saved as an OpenGait
    checkpoint, loaded through our checkpoint path into our model; parameter counts and the
    largest embedding difference in eval mode on the same inputs."""
    import torch
    sys.path.insert(0, str(REPO / "benchmarks"))
    from opengait_checkout import MODEL_CASES, OpenGaitCheckout, cpu_cuda_calls, randomize
    from opengait.engine.checkpoint import model_from_checkpoint
    og = OpenGaitCheckout(checkout)
    rows = []
    for label, og_name, og_cfg, ours_name, kind in MODEL_CASES:
        g = torch.Generator().manual_seed(len(rows))
        theirs = og.build(og_name, og_cfg)
        randomize(theirs, g)
        path = scratch / f"opengait_{len(rows)}.pt"
        torch.save({"model": theirs.state_dict(), "optimizer": {}, "scheduler": {}, "iteration": 1}, path)
        ours, _ = model_from_checkpoint({"model": ours_name, **og_cfg}, path)
        theirs.eval(), ours.eval()
        x, inputs = model_inputs_for(kind, g)
        with torch.no_grad(), cpu_cuda_calls():
            want = theirs([[x], torch.zeros(2, dtype=torch.long), None, None, None])["inference_feat"]["embeddings"]
            got = ours(inputs)["inference_feat"]["embeddings"]
        rows.append({"model": label, "opengait_parameters": sum(p.numel() for p in theirs.parameters()),
                     "our_parameters": sum(p.numel() for p in ours.parameters()),
                     "state_entries": [len(theirs.state_dict()), len(ours.state_dict())],
                     "max_abs_difference": float((got - want).abs().max()),
                     "max_abs_embedding": float(want.abs().max())})
        print(f"{label}: {rows[-1]}", flush=True)
    return rows


def models_report(args: argparse.Namespace, scratch: Path) -> None:
    rows = compare_models(args.opengait, scratch)
    lines = ["# Models: OpenGait's classes and ours under one OpenGait checkpoint", "", "```",
             "python benchmarks/bench_opengait_agreement.py --opengait <checkout> --models-only", "```", "",
             "OpenGait's own model class (built from the checkout by `benchmarks/opengait_checkout.py`), random "
             "weights and BatchNorm statistics, saved in OpenGait's checkpoint layout and loaded here through "
             "`engine/checkpoint.py`; embeddings in eval mode on the same random inputs (two sequences; 10 "
             "frames of 64 x 44, or 24 frames of keypoints). Parameters: the weights that learn.", "",
             "| model | parameters, OpenGait / ours | state-dict entries | max abs difference (largest value) |",
             "| --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['opengait_parameters']:,} / {r['our_parameters']:,} | "
                     f"{r['state_entries'][0]} / {r['state_entries'][1]} | {r['max_abs_difference']:.2g} "
                     f"({r['max_abs_embedding']:.3g}) |")
    atomic_write_report(args.models_out, lines, {"models": rows, "machine": f"{platform.machine()}"})
    print("\n".join(lines))


def main(args: argparse.Namespace) -> int:
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    if args.opengait and not args.skip_models:
        models_report(args, scratch)
        if args.models_only:
            return 0
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
    if args.speed:
        speed_report(args, result)
    return 0


def speed_report(args: argparse.Namespace, pretreatment: dict) -> None:
    """Training steps and evaluation timed side by side (each in a fresh process), with this
    run's pretreatment timings: one table of ratios."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import opengait_speed
    speed = opengait_speed.side_by_side(args.opengait, threads=args.speed_threads)
    lines = ["# Speed side by side with OpenGait's own code", "", "```",
             f"python benchmarks/bench_opengait_agreement.py --opengait <checkout> --speed"
             + (f" --speed-threads {args.speed_threads}" if args.speed_threads != 1 else ""), "```", "",
             "Each row times both on the same inputs in fresh processes (benchmarks/opengait_speed.py says how). "
             "A ratio below 1 means ours takes less time or memory.", "",
             *opengait_speed.report_lines(speed, pretreatment)]
    atomic_write_report(args.speed_out, lines, {**speed, "pretreatment": pretreatment})
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
