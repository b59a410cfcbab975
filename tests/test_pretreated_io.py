"""The pretreated-format contract: round trips, validation, restricted loading, atomicity."""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from gaitcore import atomic_files, pretreated_io as pio
from gaitcore.safe_pickle import UnsafePickleError, load_pickle


def make_arrays(t: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        pio.HEATMAP: rng.integers(0, 256, (t, 2, 64, 64), dtype=np.uint8),
        pio.SILHOUETTE: rng.integers(0, 256, (t, 64, 64), dtype=np.uint8),
        pio.POSE: rng.random((t, 17, 3), dtype=np.float32) * 100,
    }


def test_sequence_round_trip_every_modality(tmp_path):
    arrays = make_arrays()
    seq = tmp_path / "001" / "nm-01" / "090"
    assert pio.write_sequence(seq, arrays) == 5
    assert sorted(os.listdir(seq)) == ["0_heatmap.pkl", "1_sil.pkl", "2_pose.pkl"]
    back = pio.read_sequence(seq)
    assert list(back) == ["0_heatmap", "1_sil", "2_pose"]  # modality order = sorted names
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype
        np.testing.assert_array_equal(back[name], array)
    only_sil = pio.read_sequence(seq, modalities=["1_sil"])
    assert list(only_sil) == ["1_sil"]


def test_subset_and_single_file_round_trip(tmp_path):
    arrays = make_arrays(t=3)
    seq = tmp_path / "a" / "b" / "c"
    pio.write_sequence(seq, {pio.POSE: arrays[pio.POSE]})
    assert os.listdir(seq) == ["2_pose.pkl"]
    pio.write_pkl(seq / "1_sil.pkl", arrays[pio.SILHOUETTE])
    np.testing.assert_array_equal(pio.read_pkl(seq / "1_sil.pkl"), arrays[pio.SILHOUETTE])
    assert pio.read_sequence(seq).keys() == {"1_sil", "2_pose"}
    with pytest.raises(pio.PretreatedFormatError, match="missing 0_heatmap.pkl"):
        pio.read_sequence(seq, modalities=["0_heatmap"])


def test_pickles_are_readable_by_plain_pickle(tmp_path):
    """OpenGait reads our files with pickle.load; make sure that works and gives the same array."""
    arrays = make_arrays(t=2)
    pio.write_sequence(tmp_path / "s", arrays)
    with open(tmp_path / "s" / "1_sil.pkl", "rb") as f:
        np.testing.assert_array_equal(pickle.load(f), arrays[pio.SILHOUETTE])


@pytest.mark.parametrize("bad, message", [
    ({pio.SILHOUETTE: np.zeros((0, 64, 64), np.uint8)}, "no frames"),
    ({pio.SILHOUETTE: np.zeros((4, 64, 64), np.uint8),
      pio.POSE: np.zeros((5, 17, 3), np.float32)}, "frame counts differ"),
    ({pio.SILHOUETTE: np.zeros((4, 64, 64), np.float32)}, "dtype float32, expected uint8"),
    ({pio.POSE: np.zeros((4, 17, 3), np.float64)}, "dtype float64, expected float32"),
    ({pio.HEATMAP: np.zeros((4, 64, 64), np.uint8)}, r"expected \(T, 2, 64, 64\)"),
    ({pio.POSE: np.zeros((4, 18, 3), np.float32)}, r"expected \(T, 17, 3\)"),
])
def test_invalid_sequences_are_refused_and_nothing_is_written(tmp_path, bad, message):
    seq = tmp_path / "001" / "nm-01" / "000"
    with pytest.raises(pio.PretreatedFormatError, match=message):
        pio.write_sequence(seq, bad)
    assert not seq.exists()


def test_invalid_file_on_disk_is_named_in_the_error(tmp_path):
    seq = tmp_path / "001" / "nm-01" / "000"
    seq.mkdir(parents=True)
    (seq / "1_sil.pkl").write_bytes(pickle.dumps(np.zeros((3, 64, 64), np.uint8)))
    (seq / "2_pose.pkl").write_bytes(pickle.dumps(np.zeros((4, 17, 3), np.float32)))
    with pytest.raises(pio.PretreatedFormatError, match="frame counts differ") as err:
        pio.read_sequence(seq)
    assert str(seq) in str(err.value)
    (seq / "2_pose.pkl").write_bytes(pickle.dumps(np.zeros((3, 17, 3), np.float64)))
    with pytest.raises(pio.PretreatedFormatError) as err:
        pio.read_sequence(seq)
    assert str(seq / "2_pose.pkl") in str(err.value)


class _Exploit:
    """A pickle payload whose __reduce__ calls a function at load time."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _ExploitInContainer:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("payload_cls", [_Exploit, _ExploitInContainer])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, payload_cls):
    marker = tmp_path / "pwned"
    seq = tmp_path / "001" / "nm-01" / "000"
    seq.mkdir(parents=True)
    payload = {"frames": [np.zeros(3), payload_cls(marker)]}
    (seq / "1_sil.pkl").write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(UnsafePickleError, match="is not allowed") as err:
        pio.read_sequence(seq)
    assert str(seq / "1_sil.pkl") in str(err.value)
    with pytest.raises(UnsafePickleError):
        load_pickle(seq / "1_sil.pkl")
    assert not marker.exists()


def test_truncated_pickle_gives_a_clear_error(tmp_path):
    path = tmp_path / "1_sil.pkl"
    path.write_bytes(pickle.dumps(np.zeros((3, 64, 64), np.uint8))[:100])
    with pytest.raises(pickle.UnpicklingError, match="not a readable pickle") as err:
        pio.read_pkl(path)
    assert str(path) in str(err.value)


def test_interrupted_sequence_overwrite_keeps_the_old_folder(tmp_path, monkeypatch):
    seq = tmp_path / "001" / "nm-01" / "090"
    old = make_arrays(t=4, seed=1)
    pio.write_sequence(seq, old)
    calls = {"n": 0}
    real_write_bytes = Path.write_bytes

    def failing_write_bytes(self, data):
        calls["n"] += 1
        if calls["n"] == 2:  # the first file is written, the second one dies half-way
            real_write_bytes(self, data[: len(data) // 2])
            raise KeyboardInterrupt("simulated Ctrl-C mid-write")
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write_bytes)
    with pytest.raises(KeyboardInterrupt):
        pio.write_sequence(seq, make_arrays(t=6, seed=2), overwrite=True)
    monkeypatch.undo()
    back = pio.read_sequence(seq)
    for name, array in old.items():
        np.testing.assert_array_equal(back[name], array)
    assert sorted(os.listdir(seq.parent)) == ["090"]  # no temp folder left beside it


def test_interrupted_single_file_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "seq" / "1_sil.pkl"
    old = np.full((2, 64, 64), 7, np.uint8)
    pio.write_pkl(path, old)
    with pytest.raises(RuntimeError):
        with atomic_files.atomic_open(path) as f:
            f.write(b"partial bytes")
            raise RuntimeError("disk full")
    np.testing.assert_array_equal(pio.read_pkl(path), old)
    assert os.listdir(path.parent) == ["1_sil.pkl"]


def test_existing_sequence_needs_overwrite(tmp_path):
    seq = tmp_path / "s"
    pio.write_sequence(seq, make_arrays(t=2, seed=3))
    with pytest.raises(FileExistsError):
        pio.write_sequence(seq, make_arrays(t=3, seed=4))
    assert pio.read_sequence(seq)[pio.POSE].shape[0] == 2
    pio.write_sequence(seq, make_arrays(t=3, seed=4), overwrite=True)
    assert pio.read_sequence(seq)[pio.POSE].shape[0] == 3


def test_stale_temps_are_skipped_and_removed(tmp_path):
    root = tmp_path / "root"
    pio.write_sequence(root / "001" / "nm-01" / "000", make_arrays(t=2))
    # What a SIGKILLed writer leaves behind: a temp folder and a temp file.
    (root / "001" / "nm-01" / ".018.abc.tmp").mkdir()
    (root / "001" / "nm-01" / ".018.abc.tmp" / "1_sil.pkl").write_bytes(b"junk")
    (root / "001" / "nm-01" / "000" / ".1_sil.pkl.x.tmp").write_bytes(b"junk")
    refs = pio.list_sequences(root)
    assert [r.key for r in refs] == ["001/nm-01/000"]
    assert pio.read_sequence(refs[0].path).keys() == {"0_heatmap", "1_sil", "2_pose"}
    assert atomic_files.remove_stale_temps(root / "001" / "nm-01") == 1
    assert atomic_files.remove_stale_temps(root / "001" / "nm-01" / "000") == 1
    assert sorted(os.listdir(root / "001" / "nm-01" / "000")) == [
        "0_heatmap.pkl", "1_sil.pkl", "2_pose.pkl"]


def test_list_sequences(tmp_path):
    for key in ["002/nm-01/090", "001/nm-02/000", "001/nm-01/180", "001/nm-01/000"]:
        pio.write_sequence(tmp_path / key, {pio.SILHOUETTE: np.zeros((1, 64, 64), np.uint8)})
    (tmp_path / "003" / "nm-01" / "000").mkdir(parents=True)  # empty folder: not a sequence
    refs = pio.list_sequences(tmp_path)
    assert [r.key for r in refs] == ["001/nm-01/000", "001/nm-01/180", "001/nm-02/000",
                                     "002/nm-01/090"]
    assert (refs[0].subject, refs[0].type, refs[0].view) == ("001", "nm-01", "000")
    assert [r.key for r in pio.list_sequences(tmp_path, subjects=["002"])] == ["002/nm-01/090"]
    with pytest.raises(pio.PretreatedFormatError, match="does not exist"):
        pio.list_sequences(tmp_path / "nope")


def test_partition_round_trip_and_validation(tmp_path):
    path = tmp_path / "part.json"
    data = pio.write_partition(path, ["001", "002"], [3, 4], PROBE_SET=["003"])
    assert pio.read_partition(path) == data == {
        "TRAIN_SET": ["001", "002"], "TEST_SET": ["3", "4"], "PROBE_SET": ["003"]}
    path.write_text('{"TRAIN_SET": ["1"]}')
    with pytest.raises(pio.PretreatedFormatError, match="missing key 'TEST_SET'"):
        pio.read_partition(path)
    path.write_text('{"TRAIN_SET": ["1"], "TEST_SET": ["1"]}')
    with pytest.raises(pio.PretreatedFormatError, match="in both TRAIN_SET and TEST_SET"):
        pio.read_partition(path)
    path.write_text('{"TRAIN_SET": [1], "TEST_SET": []}')
    with pytest.raises(pio.PretreatedFormatError, match="list of id strings"):
        pio.read_partition(path)
    path.write_text("{not json")
    with pytest.raises(pio.PretreatedFormatError, match="not valid JSON"):
        pio.read_partition(path)


def test_gei_round_trip_and_foreign_pngs(tmp_path):
    sils = np.zeros((4, 64, 64), np.uint8)
    sils[:2, 10:50, 20:40] = 255
    sils[2:, 10:50, 25:45] = 255
    gei = pio.compute_gei(sils)
    assert gei[30, 22] == 128 and gei[30, 30] == 255 and gei[30, 42] == 128 and gei[0, 0] == 0
    path = pio.gei_path(tmp_path / "gei", "001", "nm-01", "090")
    assert path == tmp_path / "gei" / "001" / "nm-01" / "090.png"
    pio.write_gei(path, gei)
    np.testing.assert_array_equal(pio.read_gei(path), gei)
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), gei)
    # Other encoders use row filters; OpenCV's file and one with all five filters decode right.
    rng = np.random.default_rng(0)
    noisy = np.clip(np.cumsum(rng.integers(-3, 4, (40, 30)), axis=1) + 128, 0, 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "foreign.png"), noisy)
    np.testing.assert_array_equal(pio.read_gei(tmp_path / "foreign.png"), noisy)
    (tmp_path / "filters.png").write_bytes(_png_with_every_filter(noisy))
    np.testing.assert_array_equal(pio.read_gei(tmp_path / "filters.png"), noisy)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    with pytest.raises(pio.PretreatedFormatError, match="bad.png"):
        pio.read_gei(tmp_path / "bad.png")
    cv2.imwrite(str(tmp_path / "colour.png"), np.dstack([noisy] * 3))
    with pytest.raises(pio.PretreatedFormatError, match="colour.png: only 8-bit grayscale"):
        pio.read_gei(tmp_path / "colour.png")


def _png_with_every_filter(image: np.ndarray) -> bytes:
    """Encode rows with filters 0-4 in turn, straight from the PNG specification."""
    import struct
    import zlib

    def paeth(a, b, c):
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        return a if pa <= pb and pa <= pc else (b if pb <= pc else c)

    h, w = image.shape
    img = image.astype(int)
    raw = bytearray()
    for r in range(h):
        kind = r % 5
        raw.append(kind)
        for c in range(w):
            a = img[r, c - 1] if c else 0
            b = img[r - 1, c] if r else 0
            cc = img[r - 1, c - 1] if r and c else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, cc)][kind]
            raw.append((img[r, c] - pred) % 256)

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(
            ">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


def test_files_are_selected_by_position_and_identified_by_content(tmp_path):
    """OpenGait's data_in_use: booleans over the sorted files or their positions; files not named
    by us are identified by dtype and shape."""
    import pickle
    seq = tmp_path / "001" / "nm-01" / "090"
    seq.mkdir(parents=True)
    arrays = {"a.pkl": np.zeros((4, 2, 64, 64), np.uint8), "b.pkl": np.zeros((4, 64, 64), np.uint8),
              "c.pkl": np.zeros((4, 17, 3), np.float32)}
    for name, a in arrays.items():
        with open(seq / name, "wb") as f:
            pickle.dump(a, f)
    ref = pio.list_sequences(tmp_path)[0]
    assert ref.files == ("a.pkl", "b.pkl", "c.pkl")
    layout = pio.modality_layout(ref)
    assert layout.names == (pio.HEATMAP, pio.SILHOUETTE, pio.POSE) and layout.file_names is None
    assert pio.modality_layout(ref, [False, True, False]).names == (pio.SILHOUETTE,)
    assert pio.modality_layout(ref, [2, 0]).names == (pio.POSE, pio.HEATMAP)
    assert set(layout.read(ref)) == {pio.HEATMAP, pio.SILHOUETTE, pio.POSE}
    # A shorter boolean list leaves the later files out (OpenGait zips the list with the files):
    # OpenGait's SkeletonGait files ([True, False]) read the skeleton maps alone here.
    assert pio.modality_layout(ref, [True, False]).names == (pio.HEATMAP,)
    assert pio.modality_layout(ref, [False, True]).positions == (1,)
    # Without data_in_use, the modalities a model reads (in file order).
    assert pio.modality_layout(ref, wanted=(pio.POSE, pio.HEATMAP)).positions == (0, 2)
    with pytest.raises(pio.PretreatedFormatError, match=r"the model reads 1_sil, 3_x.*\(no 3_x\)"):
        pio.modality_layout(ref, wanted=(pio.SILHOUETTE, "3_x"))
    for bad, message in [([True, False, True, True], "has 4 entries but the sequences hold 3"),
                         ([3], r"positions \[3\] out of range"), ([True, 1], "mixes booleans"),
                         ([False, False, False], "switches every file off"), ([1, 1], "one file per modality")]:
        with pytest.raises(pio.PretreatedFormatError, match=message):
            pio.modality_layout(ref, bad)
    with open(seq / "c.pkl", "wb") as f:
        pickle.dump(np.zeros((4, 5), np.float64), f)
    with pytest.raises(pio.PretreatedFormatError, match="c.pkl: cannot tell which modality"):
        pio.modality_layout(pio.list_sequences(tmp_path)[0])


def test_a_report_and_its_json_twin_are_written_together(tmp_path):
    from gaitcore.atomic_files import atomic_write_report
    atomic_write_report(tmp_path / "r.md", ["# t", "", "| a |"], {"a": [1, 2.5]})
    assert (tmp_path / "r.md").read_text() == "# t\n\n| a |\n"
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": [1, 2.5]}
    atomic_write_report(tmp_path / "r.md", "text\n\n", [])
    assert (tmp_path / "r.md").read_text() == "text\n" and (tmp_path / "r.json").read_text() == "[]\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md"]      # no temp files left


def test_outputs_get_the_mode_a_plain_open_or_mkdir_gives(tmp_path):
    """Temp files are private while written; the published file and folder have the mode
    open() and mkdir() give under this process's umask (a dataset stays readable by others)."""
    from gaitcore.atomic_files import atomic_path, atomic_write_bytes
    plain_file, plain_dir = tmp_path / "plain.bin", tmp_path / "plain_dir"
    plain_file.write_bytes(b"x")
    plain_dir.mkdir()
    mode = lambda p: p.stat().st_mode & 0o777   # noqa: E731
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    with atomic_path(tmp_path / "b.bin") as tmp:
        tmp.write_bytes(b"x")
    pio.write_sequence(tmp_path / "root" / "001" / "nm-01" / "000", {pio.SILHOUETTE: np.zeros((2, 64, 64), np.uint8)})
    assert mode(tmp_path / "a.bin") == mode(tmp_path / "b.bin") == mode(plain_file)
    assert mode(tmp_path / "root" / "001" / "nm-01" / "000") == mode(plain_dir)
    assert mode(tmp_path / "root" / "001" / "nm-01" / "000" / "1_sil.pkl") == mode(plain_file)
