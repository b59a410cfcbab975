"""Append-only JSONL outputs that survive kills and several writers.

A stage's output ``<out>.jsonl`` is read together with its part files ``<out>.jsonl.parts/*.jsonl``:
every writer (a ``--shard i/n`` run, a process under ``accelerate launch``) appends to its own
part file, one flushed line per finished item, so nothing is lost when a run is killed and two
writers never interleave. Readers take the union, one record per key (the first written wins),
and drop (and count) a last line cut short by a kill; a broken line anywhere else is an error. A run that covers all shards in one process folds the
parts into ``<out>.jsonl`` at the end.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Iterable

from gaitcore.atomic_files import atomic_write_text
from gaitcore.errors import RecordFileError


def parts_dir(out: str | os.PathLike) -> Path:
    return Path(f"{out}.parts")


def _read_lines(path: Path, counts: Counter | None = None) -> list[dict]:
    """The records of one file. Only its last line may be broken, and only when the file does
    not end with a newline: a writer killed in the middle of a line (dropped, counted as
    ``torn_last_lines``). A broken line anywhere else is an error naming the file and line."""
    records = []
    if not path.exists():
        return records
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RecordFileError(f"{path}: not UTF-8 text ({e})") from None
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if number == len(lines):                 # no newline after it: cut short by a kill
                if counts is not None:
                    counts["torn_last_lines"] += 1
                continue
            raise RecordFileError(f"{path}: line {number} is not a JSON record ({e.msg}); only a last line "
                                  "cut short by a killed writer is dropped -- repair or remove the line") from None
        if not isinstance(record, dict):
            raise RecordFileError(f"{path}: line {number} is a JSON {type(record).__name__}, not a record")
        records.append(record)
    return records


def read_records(out: str | os.PathLike, key: str = "key", counts: Counter | None = None) -> dict[str, dict]:
    """All records of ``out`` and its part files, one per ``key`` value (first written wins);
    ``counts`` receives ``torn_last_lines`` (see :func:`_read_lines`)."""
    out = Path(out)
    records: dict[str, dict] = {}
    files = [out] + (sorted(parts_dir(out).glob("*.jsonl")) if parts_dir(out).is_dir() else [])
    for path in files:
        for rec in _read_lines(path, counts):
            if key in rec:
                records.setdefault(str(rec[key]), rec)
    return records


class RecordWriter:
    """Appends records to this writer's own part file, flushed line by line."""

    def __init__(self, out: str | os.PathLike, writer_name: str):
        self.out = Path(out)
        self.path = parts_dir(out) / f"{writer_name}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def consolidate(out: str | os.PathLike, key: str = "key", order: Iterable[str] | None = None) -> int:
    """Fold the part files into ``out`` (atomically) and delete them; return the record count."""
    out = Path(out)
    records = read_records(out, key)
    keys = list(order) if order is not None else sorted(records)
    keys = [k for k in keys if k in records] + sorted(set(records) - set(keys))
    atomic_write_text(out, "".join(json.dumps(records[k], ensure_ascii=False) + "\n" for k in keys))
    if parts_dir(out).is_dir():
        for part in parts_dir(out).glob("*.jsonl"):
            part.unlink()
        try:
            parts_dir(out).rmdir()
        except OSError:
            pass
    return len(records)
