"""Step 1 (CCVID): index every tracklet with a consistent zero-padded id, its clothes label,
session and camera.

Reads train.txt / query.txt / gallery.txt (lines "<tracklet> <pid> <clothes label>") from the
CCVID root and writes <out>/ccvid_index.csv. Nothing in the raw dataset is moved or renamed:
the index carries the new ids (zero-padded to the longest pid) and the pretreated names
<id>/<session>_<clothes>/<camera> that the next steps use. Malformed lines and tracklets whose
folder is missing are counted and listed.

    python datasets_preprocess/ccvid/rename_ids.py --src data/CCVID --out data/ccvid_work
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

from gaitcore.ccvid_layout import (SPLITS, TRACKLET, TrackletEntry, camera_of,
                                   parse_split_line, write_index)
from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError

log = logging.getLogger("rename_ids")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="CCVID root (session*/ folders and the split files)")
    p.add_argument("--out", required=True, help="working folder (writes ccvid_index.csv)")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    setup_logging()
    src, out = Path(args.src), Path(args.out)
    rows, counts = [], Counter()
    for split in SPLITS:
        path = src / f"{split}.txt"
        if not path.exists():
            raise UserInputError(f"{path}: split file not found (expected {', '.join(s + '.txt' for s in SPLITS)})")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            parsed = parse_split_line(line)
            if parsed is None:
                counts["malformed_lines"] += 1
                log.warning("%s:%d: malformed line %r (expected '<session>/<pid>_<clip> <pid> <clothes>')",
                            path, number, line)
                continue
            tracklet, pid, clothes = parsed
            if not (src / tracklet).is_dir():
                counts["missing_tracklets"] += 1
                log.warning("%s:%d: tracklet folder %s not found", path, number, src / tracklet)
                continue
            rows.append((split, tracklet, pid, clothes))
    if not rows:
        raise UserInputError(f"{src}: no usable tracklets in the split files")
    width = max(3, max(len(str(int(pid))) for _, _, pid, _ in rows))
    entries, seen = [], {}
    for split, tracklet, pid, clothes in rows:
        m = TRACKLET.fullmatch(tracklet)
        entry = TrackletEntry(split, tracklet, pid, f"{int(pid):0{width}d}", clothes,
                              m["session"], camera_of(m["session"], m["clip"]))
        if entry.key in seen:
            counts["duplicate_tracklets"] += 1
            log.warning("%s (%s) and %s map to the same sequence %s; keeping the first",
                        tracklet, split, seen[entry.key], entry.key)
            continue
        seen[entry.key] = f"{tracklet} ({split})"
        entries.append(entry)
        counts[f"{split}_tracklets"] += 1
    write_index(out / "ccvid_index.csv", entries)
    ids = {e.id for e in entries}
    print(f"rename_ids: {len(entries)} tracklets of {len(ids)} ids indexed "
          f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}) -> {out / 'ccvid_index.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
