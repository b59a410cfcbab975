"""datasets_preprocess/validate_pretreated.py on roots broken on purpose: every broken sequence
is one error line naming its file, the count is in the summary and the exit status is 1;
partition problems are named too (a listed id without sequences, an unlisted id, missing test
sequences, an unreadable partition file)."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from conftest import run_script
from gaitcore import pretreated_io as pio

VALIDATE = "datasets_preprocess/validate_pretreated.py"
KEYS = ["001/nm-01/000", "001/nm-01/090", "002/nm-01/000", "002/nm-01/090", "003/nm-01/000"]


def arrays(t: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {pio.HEATMAP: rng.integers(0, 256, (t, 2, 64, 64), dtype=np.uint8),
            pio.SILHOUETTE: rng.integers(0, 256, (t, 64, 64), dtype=np.uint8),
            pio.POSE: rng.random((t, 17, 3), dtype=np.float32) * 100}


@pytest.fixture
def root(tmp_path) -> Path:
    """Five sound sequences of 4 frames (ids 001, 002 train, 003 test) and their partition."""
    for i, key in enumerate(KEYS):
        pio.write_sequence(tmp_path / "pretreated" / key, arrays(4, i))
    pio.write_partition(tmp_path / "part.json", ["001", "002"], ["003"], TEST_SEQUENCES=["003/nm-01/000"])
    return tmp_path


def validate(root: Path, *extra):
    result = run_script(VALIDATE, "--root", root / "pretreated", *extra, check=False)
    lines = [l for l in result.stderr.splitlines() if not l.startswith("validate:")]   # (progress bar)
    return result, [l for l in lines if " ERROR " in l], [l for l in lines if " WARNING " in l]


def test_a_sound_root_passes(root):
    result, errors, warnings = validate(root, "--partition", root / "part.json")
    assert result.returncode == 0 and errors == [] and warnings == []
    assert "3 ids, 5 sequences, 20 frames, 0 broken" in result.stdout


def test_each_broken_sequence_is_one_line_naming_its_file(root):
    seqs = root / "pretreated"
    cut = seqs / "001/nm-01/090/1_sil.pkl"                  # a pickle cut short
    cut.write_bytes(cut.read_bytes()[:-50])
    wide = seqs / "002/nm-01/000/2_pose.pkl"                 # 18 joints instead of 17
    wide.write_bytes(pickle.dumps(np.zeros((4, 18, 3), np.float32), protocol=4))
    grey = seqs / "002/nm-01/090/1_sil.pkl"                  # silhouettes of another size
    grey.write_bytes(pickle.dumps(np.zeros((4, 64, 63), np.uint8), protocol=4))
    short = seqs / "003/nm-01/000/1_sil.pkl"                 # 3 silhouettes beside 4 poses / maps
    short.write_bytes(pickle.dumps(np.zeros((3, 64, 64), np.uint8), protocol=4))
    result, errors, warnings = validate(root)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "3 ids, 5 sequences, 4 frames, 4 broken" in result.stdout    # only 001/nm-01/000 reads
    assert len(errors) == 4 and warnings == []
    by_file = {name: [l for l in errors if f"{name}:" in l] for name in (cut, wide, grey, short.parent)}
    assert all(len(lines) == 1 for lines in by_file.values()), errors
    assert "not a readable pickle" in by_file[cut][0]
    assert "shape (4, 18, 3), expected (T, 17, 3)" in by_file[wide][0]
    assert "(4, 64, 63)" in by_file[grey][0]
    assert "frame counts differ (0_heatmap T=4, 1_sil T=3, 2_pose T=4)" in by_file[short.parent][0]


def test_partition_problems_are_named(root):
    pio.write_partition(root / "part.json", ["001", "009"], ["003"],
                        TEST_SEQUENCES=["003/nm-01/000", "003/nm-01/180", "003/cl-01/000"])
    result, errors, warnings = validate(root, "--partition", root / "part.json")
    assert result.returncode == 0 and errors == []          # the sequences themselves are sound
    assert len(warnings) == 3, warnings
    assert all(f"{root / 'part.json'}: " in w for w in warnings)      # each names the JSON file
    assert warnings[0].endswith("1 partition ids have no sequences on disk (e.g. 009)")
    assert warnings[1].endswith("1 ids on disk are in no partition set (e.g. 002)")
    assert warnings[2].endswith("TEST_SEQUENCES: 1 of 3 on disk; missing (counted as misses by the "
                                "evaluators) by type: {'cl-01': 1, 'nm-01': 1}")


def test_an_unreadable_partition_file_is_one_error_naming_it(root):
    (root / "part.json").write_text('{"TRAIN_SET": ["001"]')
    result, _, _ = validate(root, "--partition", root / "part.json")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert [l for l in result.stderr.splitlines() if l.startswith("error:")] == [
        f"error: {root / 'part.json'}: not valid JSON (Expecting ',' delimiter: line 1 column 22 (char 21))"]


@pytest.mark.fault_injection
def test_an_id_folder_linked_from_outside_the_root_is_counted_and_named(root, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    pio.write_sequence(elsewhere / "004" / "nm-01" / "000", arrays(4, 9))
    (root / "pretreated" / "004").symlink_to(elsewhere / "004", target_is_directory=True)
    result, errors, warnings = validate(root)
    assert result.returncode == 0 and errors == []
    assert "4 ids, 6 sequences, 24 frames, 0 broken, 1 folders linked from outside the root" in result.stdout
    assert f"004 -> {(elsewhere / '004').resolve()}" in result.stdout
    assert len(warnings) == 1 and "is a link to" in warnings[0] and "outside the root" in warnings[0]
