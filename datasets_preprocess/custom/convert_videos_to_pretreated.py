"""Your own footage -> the pretreated layout + a partition JSON, to train and evaluate on it.

Each video of the index shows one walker (the person tracked longest is kept). The same
detection, segmentation, pose, alignment, skeleton-map and quality path as the dataset scripts
and the enroll/identify tools turns it into <out>/pretreated/<id>/<type>/<view>/{0_heatmap,1_sil,
2_pose}.pkl (training videos quality-filtered, test videos with every frame of their walker);
drops are counted in <out>/quality_report.json; <out>/custom.json holds the split and
TEST_SEQUENCES (every test video's sequence, what the evaluator expects).

The index is a CSV with a header ``video,id,type,view`` and an optional ``split`` column
(train/test). Without it, --test-ids or --test-share decides (default: the last 40% of the ids).
Evaluate with ``eval_func: evaluate_custom`` and ``probe_types`` / ``gallery_types`` in the YAML.

    python datasets_preprocess/custom/convert_videos_to_pretreated.py --videos data/my_videos --index data/my_videos/index.csv --out data/my_work
"""
from __future__ import annotations

import argparse
import csv
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.parallel import default_workers
from gaitcore.preprocess_runner import load_quality_rules, require_kept, run_sequences, summary_line
from gaitcore.pretreated_io import write_partition
from gaitcore.video_io import read_video
from gaitcore.video_walkers import WalkerSource, add_walker_source_arguments

log = logging.getLogger("convert_videos_to_pretreated")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", required=True, help="folder the index's video paths are relative to")
    p.add_argument("--index", required=True, help="CSV: video,id,type,view[,split]")
    p.add_argument("--out", required=True, help="working folder (pretreated/, custom.json, quality_report.json)")
    p.add_argument("--test-ids", help="comma-separated ids for TEST_SET (instead of a split column)")
    p.add_argument("--test-share", type=float, default=0.4,
                   help="without split column or --test-ids: share of ids, last in sorted order, for testing")
    p.add_argument("--workers", type=int, default=default_workers(), help="worker processes (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="redo sequences already written")
    add_walker_source_arguments(p)
    args = p.parse_args(argv)
    if not 0 < args.test_share < 1:
        p.error("--test-share must be in (0, 1)")
    return args


@dataclass(frozen=True)
class VideoJob:
    key: str                 # <id>/<type>/<view>
    video: str
    source: tuple            # the walker-source options, as (name, value) pairs


def load_video_walker(job: VideoJob):
    """(masks, poses) of the walker tracked longest in the job's video (empty when nobody is)."""
    args = argparse.Namespace(**dict(job.source))
    source = WalkerSource(args)
    video = Path(job.video)
    walkers = source.walkers(read_video(video), video.stem)
    if not walkers:
        log.warning("%s: no person tracked for %d frames or more", video, source.rules.min_frames)
        return {}, {}
    walker = max(walkers, key=len)
    return walker.masks, walker.poses


def read_index(path: Path, videos: Path) -> list[dict]:
    if not path.is_file():
        raise UserInputError(f"{path}: index file not found")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        need = {"video", "id", "type", "view"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise UserInputError(f"{path}: expected a header with video,id,type,view[,split] (found "
                                 f"{reader.fieldnames})")
        rows, keys = [], set()
        for line, row in enumerate(reader, start=2):
            row = {k: (v or "").strip() for k, v in row.items() if k}
            for name in ("id", "type", "view"):
                if not SAFE_NAME.match(row[name]):
                    raise UserInputError(f"{path}:{line}: {name} {row[name]!r} is not a safe folder name "
                                         "(letters, digits, _ . + -)")
            if row.get("split") and row["split"] not in ("train", "test"):
                raise UserInputError(f"{path}:{line}: split {row['split']!r} must be train or test")
            key = f"{row['id']}/{row['type']}/{row['view']}"
            if key in keys:
                raise UserInputError(f"{path}:{line}: {key} appears twice")
            keys.add(key)
            row["path"] = videos / row["video"]
            rows.append(row)
    if not rows:
        raise UserInputError(f"{path}: no rows")
    return rows


def split_ids(rows: list[dict], test_ids: str | None, test_share: float, where: Path) -> tuple[list, list]:
    ids = sorted({r["id"] for r in rows})
    if test_ids:
        test = {i.strip() for i in test_ids.split(",") if i.strip()}
        unknown = test - set(ids)
        if unknown:
            raise UserInputError(f"--test-ids: {', '.join(sorted(unknown))} not in {where}")
    elif any(r.get("split") for r in rows):
        test = {r["id"] for r in rows if r.get("split") == "test"}
        mixed = test & {r["id"] for r in rows if r.get("split") == "train"}
        if mixed:
            raise UserInputError(f"{where}: ids marked both train and test: {', '.join(sorted(mixed))}")
    else:
        n_test = max(1, round(test_share * len(ids))) if len(ids) > 1 else 0
        test = set(ids[len(ids) - n_test:])
    return [i for i in ids if i not in test], [i for i in ids if i in test]


def main(args: argparse.Namespace) -> int:
    setup_logging()
    videos, out = Path(args.videos), Path(args.out)
    rows = read_index(Path(args.index), videos)
    missing = [str(r["path"]) for r in rows if not r["path"].is_file()]
    if missing:
        log.warning("%d videos of the index are missing (e.g. %s); their sequences are dropped", len(missing),
                    missing[0])
    train, test = split_ids(rows, args.test_ids, args.test_share, Path(args.index))
    for option in ("sils_from", "pose_from"):
        folder = getattr(args, option)
        if folder and not Path(folder).is_dir():
            raise UserInputError(f"{folder}: --{option.replace('_', '-')} folder not found")
    rules = load_quality_rules(args.config, "custom", args.quality_rule)
    WalkerSource(args).load_models()  # a bad checkpoint fails here, once
    options = ("seg_model", "pose_model", "sils_from", "pose_from", "device", "imgsz", "config")
    source = tuple((k, getattr(args, k)) for k in options) + (("quality_rule", tuple(args.quality_rule)),)
    jobs = [VideoJob(f"{r['id']}/{r['type']}/{r['view']}", str(r["path"]), source) for r in rows]
    counts, report = run_sequences(jobs, load_video_walker, rules, out, out / "pretreated", out / "gei",
                                   args.workers, args.overwrite, desc="videos", test_ids=test)
    print(summary_line("convert_videos_to_pretreated", counts, report, out / "pretreated"))
    require_kept("convert_videos_to_pretreated", report, out / "quality_report.json")
    kept = {key.split("/")[0] for key, rec in report["sequences"].items() if rec["status"] == "kept"}
    test_keys = [job.key for job in jobs if job.key.split("/")[0] in set(test)]
    train, test = [i for i in train if i in kept], [i for i in test if i in kept]
    write_partition(out / "custom.json", train, test, TEST_SEQUENCES=test_keys)
    print(f"partition: {len(train)} train / {len(test)} test ids with sequences -> {out / 'custom.json'}")
    return 0 if report["summary"].get("sequences_kept", 0) else 1


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
