"""Check a pretreated dataset root the way the trainer will read it.

Every sequence folder ``root/<id>/<type>/<view>`` is read through the restricted loader. Files
are taken by sorted position, as OpenGait's loader and the trainer do: our own names
(0_heatmap, 1_sil, 2_pose) say what each file holds, other names (OpenGait's <view>.pkl) are
identified by their arrays. Checked: readable files, dtypes and shapes, equal frame counts,
and the same files in every sequence (the trainer refuses a root where they differ). With
--partition the partition JSON is checked too (ids on disk, expected test sequences present).
Exit status 1 if any sequence is broken.

    python datasets_preprocess/validate_pretreated.py --root data/casia_b_work/pretreated --partition data/casia_b_work/casia_b.json
    python datasets_preprocess/validate_pretreated.py --root <OpenGait root> --data-in-use "[true, false]"
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

import yaml
from tqdm import tqdm

from gaitcore.cli import EXPECTED_ERRORS, run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.yaml_files import parse_yaml
from gaitcore.pretreated_io import (list_sequences, modality_layout,
                                    read_partition)

log = logging.getLogger("validate_pretreated")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="pretreated dataset root")
    parser.add_argument("--partition", help="partition JSON to check against the root")
    parser.add_argument("--data-in-use", help="the files the trainer will read, as data_cfg.data_in_use "
                                              "in YAML (e.g. \"[false, true, false]\" or \"[1]\"; "
                                              "default: every file)")
    parser.add_argument("--max-errors", type=int, default=20,
                        help="how many broken sequences to list (default 20)")
    args = parser.parse_args(argv)
    if args.data_in_use is not None:
        try:
            args.data_in_use = parse_yaml(args.data_in_use, "--data-in-use")
        except yaml.YAMLError as e:
            parser.error(f"--data-in-use: not a YAML list ({e})")
    if args.max_errors < 0:
        parser.error("--max-errors must be >= 0")
    return args


def main(args: argparse.Namespace) -> int:
    setup_logging()
    sequences = list_sequences(args.root)
    if not sequences:
        raise UserInputError(f"{args.root}: no sequence folders (<id>/<type>/<view>/*.pkl)")
    layout = modality_layout(sequences[0], args.data_in_use, "--data-in-use")
    log.info("layout: %d file(s) per sequence%s; using %s", layout.n_files,
             f" ({', '.join(layout.file_names)})" if layout.file_names else " (identified by content)",
             ", ".join(f"position {p}: {n}" for p, n in zip(layout.positions, layout.names)))
    frames, errors = 0, []
    for ref in tqdm(sequences, desc="validate", unit="seq"):
        try:
            layout.check(ref)
            arrays = layout.read(ref)
        except EXPECTED_ERRORS as e:
            errors.append(str(e))
            continue
        frames += len(next(iter(arrays.values())))
    for message in errors[:args.max_errors]:
        log.error(message)
    subjects = {ref.subject for ref in sequences}
    if args.partition:
        report_partition(args.partition, subjects, {ref.key for ref in sequences})
    outside = links_outside(args.root)
    for link, target in outside[:args.max_errors]:
        log.warning("%s is a link to %s, outside the root: its sequences are read from there", link, target)
    print(f"validated {args.root}: {len(subjects)} ids, {len(sequences)} sequences, "
          f"{frames} frames, {len(errors)} broken, {len(outside)} folders linked from outside the root"
          + (f" (e.g. {outside[0][0].name} -> {outside[0][1]})" if outside else ""))
    return 1 if errors else 0


def links_outside(root) -> list[tuple[Path, Path]]:
    """(link, target) of every id / type / view folder that is a symbolic link resolving outside
    ``root`` (followed when reading, as OpenGait does: named here so that it is not silent)."""
    root = Path(root).resolve()
    found = []
    for depth in ("*", "*/*", "*/*/*"):
        for path in sorted(Path(root).glob(depth)):
            if path.is_symlink() and path.is_dir():
                target = path.resolve()
                if target != root and root not in target.parents:
                    found.append((path, target))
    return found


def report_partition(path: str, subjects: set[str], keys: set[str]) -> None:
    partition = read_partition(path)
    listed = set(partition["TRAIN_SET"]) | set(partition["TEST_SET"])
    absent = sorted(listed - subjects)
    unlisted = sorted(subjects - listed)
    if absent:
        log.warning("%s: %d partition ids have no sequences on disk (e.g. %s)",
                    path, len(absent), ", ".join(absent[:5]))
    if unlisted:
        log.warning("%s: %d ids on disk are in no partition set (e.g. %s)",
                    path, len(unlisted), ", ".join(unlisted[:5]))
    expected = partition.get("TEST_SEQUENCES")
    if expected is not None:
        missing = sorted(set(expected) - keys)
        counts = Counter(k.split("/")[1] for k in missing)
        log.log(logging.WARNING if missing else logging.INFO,
                "%s: TEST_SEQUENCES: %d of %d on disk%s", path, len(expected) - len(missing), len(expected),
                f"; missing (counted as misses by the evaluators) by type: {dict(counts)}" if missing else "")


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
