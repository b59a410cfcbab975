"""ccvid_aug step 3: the partition with the augmented sequences, for training only.

Copies <work>/ccvid.json (make_probe_gallery.py of ccvid) to <work>/ccvid_aug.json and adds the
augmented sequences found in the pretreated root: AUGMENTED_SET lists them and SEQUENCE_INFO
records their source, variant and target outfit. They belong to training ids only and never
appear in PROBE_SET or GALLERY_SET (checked). Point data_cfg.dataset_partition at ccvid_aug.json
and set trainer_cfg.sampler.augmented_share to mix them into the batches.

    python datasets_preprocess/ccvid_aug/make_probe_gallery.py --aug data/ccvid_aug --work data/ccvid_work
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gaitcore.ccvid_layout import read_index
from datasets_preprocess.ccvid_aug.augmented_index import read_augmented_index
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.pretreated_io import list_sequences, read_partition, write_partition


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--aug", required=True, help="augmented tracklets root (with augmented_index.csv)")
    p.add_argument("--work", required=True, help="CCVID working folder (ccvid.json, pretreated/)")
    p.add_argument("--out", help="output partition (default <work>/ccvid_aug.json)")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    work = Path(args.work)
    part = read_partition(work / "ccvid.json")
    sources = {e.tracklet: e for e in read_index(work / "ccvid_index.csv")}
    on_disk = {ref.key for ref in list_sequences(work / "pretreated")}
    info = dict(part.get("SEQUENCE_INFO", {}))
    augmented = []
    for row in read_augmented_index(args.aug):
        src = sources.get(row.source)
        if src is None:
            continue
        key = f"{src.id}/{row.sequence_type(src.type)}/{src.view}"
        if key not in on_disk:
            continue
        if src.id not in part["TRAIN_SET"]:
            raise UserInputError(f"{key}: augmented sequence of id {src.id}, which is not a training id")
        augmented.append(key)
        info[key] = {"tracklet": row.tracklet, "clothes": row.target_outfit, "session": src.session,
                     "camera": src.camera, "augmented": True, "source": src.key,
                     "variant": row.variant, "target_pid": row.target_pid}
    leaked = set(augmented) & (set(part.get("PROBE_SET", [])) | set(part.get("GALLERY_SET", [])))
    if leaked:
        raise UserInputError(f"augmented sequences in the query/gallery sets: {sorted(leaked)[:3]}")
    out = Path(args.out) if args.out else work / "ccvid_aug.json"
    write_partition(out, part["TRAIN_SET"], part["TEST_SET"], PROBE_SET=part["PROBE_SET"],
                    GALLERY_SET=part["GALLERY_SET"], AUGMENTED_SET=sorted(augmented),
                    SEQUENCE_INFO=dict(sorted(info.items())))
    print(f"make_probe_gallery (ccvid_aug): {len(augmented)} augmented training sequences added "
          f"(never in query/gallery) -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
