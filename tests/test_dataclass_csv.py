"""gaitcore/dataclass_csv.py: dataclass records to CSV and back, checked against the file's text."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from gaitcore.dataclass_csv import read_records_csv, write_records_csv
from gaitcore.errors import UserInputError


@dataclass(frozen=True)
class Row:
    name: str
    count: int
    note: str


def test_records_round_trip_with_whole_numbers_restored(tmp_path):
    rows = [Row("a", 3, "x, with a comma"), Row("b", -1, "")]
    path = write_records_csv(tmp_path / "rows.csv", Row, rows)
    assert path.read_text(encoding="utf-8").splitlines() == ["name,count,note", 'a,3,"x, with a comma"', "b,-1,"]
    assert read_records_csv(path, Row, "make it") == rows


def test_a_missing_file_other_columns_or_a_bad_number_is_one_line_naming_the_file(tmp_path):
    with pytest.raises(UserInputError, match=r"nowhere.csv: not found; run make_rows.py first"):
        read_records_csv(tmp_path / "nowhere.csv", Row, "run make_rows.py first")
    (tmp_path / "other.csv").write_text("name,count\na,1\n")
    with pytest.raises(UserInputError, match=r"other.csv: columns \['name', 'count'\], expected \['name', 'count', 'note'\]"):
        read_records_csv(tmp_path / "other.csv", Row, "")
    (tmp_path / "bad.csv").write_text("name,count,note\na,1,\nb,two,\n")
    with pytest.raises(UserInputError, match=r"bad.csv: line 3: invalid literal for int"):
        read_records_csv(tmp_path / "bad.csv", Row, "")
