"""Lists of flat dataclass records as CSV files: one column per field, the header checked when
read and whole-number fields turned back into ``int`` (the CCVID index, the augmented index)."""
from __future__ import annotations

import csv
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import TypeVar

from gaitcore.atomic_files import atomic_open
from gaitcore.errors import UserInputError

Record = TypeVar("Record")


def column_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def write_records_csv(path: str | os.PathLike, cls: type, records: list) -> Path:
    """Write ``records`` (instances of the dataclass ``cls``) atomically, a header row first."""
    path = Path(path)
    with atomic_open(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=column_names(cls))
        writer.writeheader()
        for record in records:
            writer.writerow(asdict(record))
    return path


def read_records_csv(path: str | os.PathLike, cls: type[Record], missing_hint: str) -> list[Record]:
    """The records of a file written by :func:`write_records_csv`; a missing file or other
    columns are a one-line :class:`UserInputError` (``missing_hint`` says how to make the file)."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{path}: not found; {missing_hint}")
    names = column_names(cls)
    whole = {f.name for f in fields(cls) if f.type in (int, "int")}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != names:
            raise UserInputError(f"{path}: columns {reader.fieldnames}, expected {names}")
        try:
            return [cls(**{k: int(v) if k in whole else v for k, v in row.items()}) for row in reader]
        except (TypeError, ValueError) as e:
            raise UserInputError(f"{path}: line {reader.line_num}: {e}") from None
