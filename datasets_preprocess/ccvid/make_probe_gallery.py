"""Step 3 (CCVID): the partition JSON with the query/gallery sets and clothes labels.

Reads ccvid_index.csv and the pretreated root and writes <out>/ccvid.json:

    TRAIN_SET / TEST_SET   ids of train.txt / of query.txt + gallery.txt
    PROBE_SET / GALLERY_SET  sequence keys <id>/<session>_<clothes>/<camera> of query / gallery tracklets
    SEQUENCE_INFO          key -> {"tracklet", "clothes", "session", "camera"} for every sequence

The CCVID evaluator reads PROBE_SET, GALLERY_SET and SEQUENCE_INFO (clothes and camera decide
which gallery entries the general and clothes-changing settings ignore). Query and gallery
tracklets are listed whether or not they are on disk (preprocessing never drops a test
sequence that has a silhouette; the evaluator counts a missing query as a miss); missing
training tracklets are left out. Both are counted.

    python datasets_preprocess/ccvid/make_probe_gallery.py --out data/ccvid_work
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from gaitcore.ccvid_layout import read_index
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.pretreated_io import list_sequences, write_partition


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="working folder (reads ccvid_index.csv and "
                                                "pretreated/, writes ccvid.json)")
    p.add_argument("--index", help="tracklet index (default <out>/ccvid_index.csv)")
    p.add_argument("--root", help="pretreated root (default <out>/pretreated)")
    p.add_argument("--partition", help="output file (default <out>/ccvid.json)")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    out = Path(args.out)
    entries = read_index(args.index or out / "ccvid_index.csv")
    root = Path(args.root) if args.root else out / "pretreated"
    on_disk = {ref.key for ref in list_sequences(root)}
    sets = {"train": [], "query": [], "gallery": []}
    info, counts = {}, Counter()
    for e in entries:
        if e.key not in on_disk:
            counts[f"{e.split}_missing"] += 1
            if e.split == "train":          # query and gallery stay listed: the evaluator
                continue                    # counts a missing query as a miss
        sets[e.split].append(e)
        info[e.key] = {"tracklet": e.tracklet, "clothes": e.clothes, "session": e.session,
                       "camera": e.camera}
    train_ids = sorted({e.id for e in sets["train"]})
    test_ids = sorted({e.id for e in sets["query"] + sets["gallery"]})
    overlap = set(train_ids) & set(test_ids)
    if overlap:
        raise UserInputError(f"ids {', '.join(sorted(overlap)[:5])} are in train.txt and in "
                             "query/gallery.txt")
    if not any(e.key in on_disk for e in sets["query"]) or not any(e.key in on_disk for e in sets["gallery"]):
        raise UserInputError(f"{root}: no query or no gallery sequences on disk; "
                             "run rearrange_to_grew.py first")
    partition = Path(args.partition) if args.partition else out / "ccvid.json"
    write_partition(partition, train_ids, test_ids,
                    PROBE_SET=sorted(e.key for e in sets["query"]),
                    GALLERY_SET=sorted(e.key for e in sets["gallery"]),
                    SEQUENCE_INFO=dict(sorted(info.items())))
    missing = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
    print(f"make_probe_gallery: {len(train_ids)} train ids ({len(sets['train'])} sequences), "
          f"{len(test_ids)} test ids with {len(sets['query'])} query and {len(sets['gallery'])} "
          f"gallery sequences; not on disk: {missing} (missing training tracklets are left out, "
          f"missing queries count as misses) -> {partition}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
