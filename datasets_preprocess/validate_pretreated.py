"""Check a pretreated dataset root against the format contract.

Every sequence folder ``root/<id>/<type>/<view>`` is read through the restricted loader and
checked for dtypes, shapes and equal frame counts; with ``--partition`` the partition JSON is
checked too (ids present on disk). Exit status 1 if any sequence is broken.

    python datasets_preprocess/validate_pretreated.py --root data/pretreated --partition data/pretreated/partition.json
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter

from tqdm import tqdm

from datasets_preprocess.common.cli import EXPECTED_ERRORS, run_script, setup_logging
from datasets_preprocess.common.pretreated_io import list_sequences, read_partition, read_sequence

log = logging.getLogger("validate_pretreated")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="pretreated dataset root")
    parser.add_argument("--partition", help="partition JSON to check against the root")
    parser.add_argument("--max-errors", type=int, default=20,
                        help="how many broken sequences to list (default 20)")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    sequences = list_sequences(args.root)
    frames, modality_sets, errors = 0, Counter(), []
    for ref in tqdm(sequences, desc="validate", unit="seq"):
        try:
            arrays = read_sequence(ref.path)
        except EXPECTED_ERRORS as e:
            errors.append(str(e))
            continue
        frames += next(iter(arrays.values())).shape[0]
        modality_sets[",".join(arrays)] += 1
    for message in errors[:args.max_errors]:
        log.error(message)
    subjects = {ref.subject for ref in sequences}
    if args.partition:
        partition = read_partition(args.partition)
        listed = set(partition["TRAIN_SET"]) | set(partition["TEST_SET"])
        absent = sorted(listed - subjects)
        unlisted = sorted(subjects - listed)
        if absent:
            log.warning("%d partition ids have no sequences on disk (e.g. %s)",
                        len(absent), ", ".join(absent[:5]))
        if unlisted:
            log.warning("%d ids on disk are in no partition set (e.g. %s)",
                        len(unlisted), ", ".join(unlisted[:5]))
    for combo, count in sorted(modality_sets.items()):
        log.info("modalities [%s]: %d sequences", combo, count)
    print(f"validated {args.root}: {len(subjects)} ids, {len(sequences)} sequences, "
          f"{frames} frames, {len(errors)} broken")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
