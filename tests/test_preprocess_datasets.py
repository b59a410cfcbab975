"""Each dataset's preprocessing scripts end to end on the synthetic layouts, bad inputs, resume."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT, run_script
from gaitcore.pretreated_io import list_sequences, read_gei, read_partition, read_sequence

GEN = "datasets_preprocess/synthetic/make_synthetic_gait.py"
CASIA_TYPES = "nm-01,nm-02,bg-01,cl-01"
CASIA_VIEWS = "000,090"


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.pkl"))}


@pytest.fixture(scope="module")
def casia_raw(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("casia") / "raw"
    run_script(GEN, "--out", raw, "--subjects", "3", "--types", CASIA_TYPES, "--views",
               CASIA_VIEWS, "--frames", "20", "--missing-frame-rate", "0.05",
               "--broken-frame-rate", "0.05")
    return raw


@pytest.fixture(scope="module")
def casia_work(casia_raw, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("casia_work")
    run_script("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes",
               casia_raw / "silhouettes", "--pose-from", casia_raw / "poses", "--out", work)
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
               casia_raw / "silhouettes", "--out", work)
    return work


# 2_pose.pkl holds the ground truth itself as float32: x and y (pixels) and the confidence of
# every joint must equal the pose JSON's value to within this (float32 of values < 400 px).
POSE_ATOL = 1e-4


def aligned_source_frames(folder: Path) -> dict[int, np.ndarray]:
    """{frame number: 64x64 silhouette} of every source frame OpenGait's rule (written out in
    opengait_rules) aligns."""
    from gaitcore.image_io import numbered_images, read_mask
    from opengait_rules import align_like_opengait
    aligned = {}
    for n, path in numbered_images(folder).items():
        mask = read_mask(path)
        a = None if isinstance(mask, str) else align_like_opengait(mask)
        if a is not None:
            aligned[n] = a
    return aligned


def frames_of_rows(sils: np.ndarray, aligned: dict[int, np.ndarray]) -> list[int]:
    """The source frame number of each 1_sil row, found by its pixels: the row must equal the
    aligned silhouette of a source frame later than the previous row's (frame order kept)."""
    numbers, previous = [], 0
    for i, row in enumerate(sils):
        match = [n for n, a in aligned.items() if n > previous and np.array_equal(a, row)]
        assert match, f"1_sil row {i} is no source frame after frame {previous}"
        previous = match[0]
        numbers.append(previous)
    return numbers


@pytest.mark.slow
def test_casia_b_end_to_end(casia_raw, casia_work):
    generation = json.loads((casia_raw / "generation.json").read_text())["counts"]
    report = json.loads((casia_work / "quality_report.json").read_text())
    summary, records = report["summary"], report["sequences"]
    assert len(records) == 3 * 4 * 2
    assert summary["frames_in"] == 3 * 4 * 2 * 20
    assert summary["frames_dropped_no_silhouette"] == generation["silhouettes_missing"]
    train = {k: r for k, r in records.items() if r["split"] == "train"}
    assert len(train) == 16 and all(k[:3] in ("001", "002") for k in train)
    broken = sum(r["dropped_frames"].get("small_silhouette", 0)
                 + r["dropped_frames"].get("empty_silhouette", 0) for r in records.values())
    # Seeded data: of the 26 masks the generator broke (emptied, or cut at 20-60% of the body's
    # height), 22 are caught: the 16 emptied ones wherever they are (nothing to align) and 6 cut
    # ones, all in training sequences (test sequences drop no mask that can be aligned).
    assert generation["silhouettes_broken"] == 26 and broken == 22   # broken masks are caught ...
    assert not any("small_silhouette" in r["dropped_frames"]      # ... in training data only
                   for r in records.values() if r["split"] == "test")
    refs = list_sequences(casia_work / "pretreated")
    kept = [k for k, r in records.items() if r["status"] == "kept"]
    assert sorted(r.key for r in refs) == sorted(kept) and len(kept) == 24      # every sequence
    for ref in refs:
        arrays = read_sequence(ref.path)
        t = records[ref.key]["frames_kept"]
        assert arrays["0_heatmap"].shape == (t, 2, 64, 64) and arrays["0_heatmap"].dtype == np.uint8
        assert arrays["1_sil"].shape == (t, 64, 64) and arrays["1_sil"].dtype == np.uint8
        assert arrays["2_pose"].shape == (t, 17, 3) and arrays["2_pose"].dtype == np.float32
        assert arrays["1_sil"].max() == 255 and arrays["0_heatmap"].max() > 200
        gei = read_gei(casia_work / "gei" / ref.subject / ref.type / f"{ref.view}.png")
        assert gei.shape == (64, 64) and gei.max() > 200
    # 2_pose.pkl, every sequence, every row, all 17 joints (x, y, confidence): the ground-truth
    # pose of the frame whose silhouette is in the same row of 1_sil (within POSE_ATOL).
    for ref in refs:
        gt = json.loads((casia_raw / "poses" / f"{ref.key.replace('/', '-')}.json").read_text())
        truth = {f["frame"]: np.asarray(f["keypoints"], np.float64) for f in gt["frames"]}
        arrays = read_sequence(ref.path)
        aligned = aligned_source_frames(casia_raw / "silhouettes" / ref.key)
        frames = frames_of_rows(arrays["1_sil"], aligned)
        test = records[ref.key]["split"] == "test"
        assert len(frames) == len(arrays["2_pose"]) == records[ref.key]["frames_kept"]
        if test:                                  # never thinned: every alignable frame is there
            assert frames == sorted(aligned)
        for row, frame in enumerate(frames):
            assert frame in truth or test, f"{ref.key}: training frame {frame} has no pose"
            expected = truth.get(frame, np.zeros((17, 3)))    # a test frame without a pose: zeros
            assert expected.shape == (17, 3)
            np.testing.assert_allclose(arrays["2_pose"][row], expected, rtol=0, atol=POSE_ATOL,
                                       err_msg=f"{ref.key} row {row} (frame {frame})")
    test_keys = [f"003/{t}/{v}" for t in CASIA_TYPES.split(",") for v in CASIA_VIEWS.split(",")]
    assert read_partition(casia_work / "casia_b.json") == {
        "TRAIN_SET": ["001", "002"], "TEST_SET": ["003"], "TEST_SEQUENCES": sorted(test_keys)}


def test_test_sequences_are_never_thinned(casia_raw, casia_work, tmp_path):
    """Test (gallery/probe) sequences keep every frame whose silhouette OpenGait would keep --
    broken ones included -- and frames without a pose get zero keypoints and empty maps."""
    records = json.loads((casia_work / "quality_report.json").read_text())["sequences"]
    from gaitcore.image_io import numbered_images, read_mask
    from opengait_rules import align_like_opengait
    for key in ("003/nm-01/000", "003/cl-01/090"):
        folder = casia_raw / "silhouettes" / key
        expected = np.stack([a for a in (align_like_opengait(read_mask(p))
                                         for p in numbered_images(folder).values()) if a is not None])
        arrays = read_sequence(casia_work / "pretreated" / key)
        np.testing.assert_array_equal(arrays["1_sil"], expected)   # OpenGait's frames and pixels
        assert records[key]["split"] == "test" and records[key]["frames_kept"] == len(expected)
    # The same sequence without a pose file: kept, zero keypoints, empty skeleton maps.
    work = tmp_path / "work"
    (work / "poses").mkdir(parents=True)
    for p in (casia_work / "poses").iterdir():
        if p.name != "003-nm-01-000.json":
            (work / "poses" / p.name).write_bytes(p.read_bytes())
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
               casia_raw / "silhouettes", "--out", work)
    arrays = read_sequence(work / "pretreated" / "003/nm-01/000")
    assert len(arrays["1_sil"]) == records["003/nm-01/000"]["frames_kept"]
    assert not arrays["2_pose"].any() and not arrays["0_heatmap"].any()
    report = json.loads((work / "quality_report.json").read_text())
    assert report["sequences"]["003/nm-01/000"]["frames_without_pose"] == len(arrays["1_sil"])

    # The same damage to a training and a test sequence: dropped in one, kept in the other. The
    # source is a fault-free set, so the three damaged frames are the only small ones.
    clean = tmp_path / "clean"
    run_script(GEN, "--out", clean, "--subjects", "3", "--types", "nm-01", "--views", "000", "--frames", "20",
               "--missing-frame-rate", "0", "--broken-frame-rate", "0")
    sils = tmp_path / "sils"
    for key in ("001/nm-01/000", "003/nm-01/000"):
        src, dst = clean / "silhouettes" / key, sils / key
        dst.mkdir(parents=True)
        for i, p in enumerate(sorted(src.iterdir())):
            mask = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
            if i in (4, 9, 14):                                   # legs cut off: a broken mask
                rows = np.flatnonzero(mask.any(1))
                mask[(rows[0] + rows[-1]) // 2:] = 0
            cv2.imwrite(str(dst / p.name), mask)
    work2 = tmp_path / "work2"
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", sils,
               "--out", work2, "--no-poses", "--train-count", "1")
    report = json.loads((work2 / "quality_report.json").read_text())["sequences"]
    assert report["001/nm-01/000"]["dropped_frames"] == {"small_silhouette": 3}
    assert report["001/nm-01/000"]["frames_kept"] == 17
    assert all(align_like_opengait(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)) is not None
               for p in (sils / "003/nm-01/000").iterdir())
    assert report["003/nm-01/000"]["frames_kept"] == 20                 # damaged frames included


@pytest.mark.fault_injection
def test_no_quality_filter_gives_opengaits_silhouettes_for_training_ids_too(casia_raw, tmp_path):
    from gaitcore.image_io import numbered_images, read_mask
    from opengait_rules import align_like_opengait
    work = tmp_path / "work"
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
               casia_raw / "silhouettes", "--out", work, "--no-poses", "--no-quality-filter")
    for ref in list_sequences(work / "pretreated"):
        expected = [a for a in (align_like_opengait(read_mask(p))
                                for p in numbered_images(casia_raw / "silhouettes" / ref.key).values())
                    if a is not None]
        np.testing.assert_array_equal(read_sequence(ref.path)["1_sil"], np.stack(expected))
    # Kept whole, but still reported as what they are: the partition's training ids as "train".
    partition = json.loads((work / "casia_b.json").read_text())
    report = json.loads((work / "quality_report.json").read_text())
    splits = {key: r["split"] for key, r in report["sequences"].items()}
    assert {k for k, v in splits.items() if v == "test"} == {k for k in splits if k.split("/")[0] in partition["TEST_SET"]}
    assert {k for k, v in splits.items() if v == "train"} == {k for k in splits if k.split("/")[0] in partition["TRAIN_SET"]}
    summary = report["summary"]
    assert summary["test_sequences_kept"] == sum(v == "test" for v in splits.values()) > 0
    assert summary["train_sequences_kept"] == sum(v == "train" for v in splits.values()) > 0


def test_casia_b_second_run_is_idempotent(casia_raw, casia_work):
    before = digests(casia_work / "pretreated")
    result = run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
                        casia_raw / "silhouettes", "--out", casia_work)
    assert "0 sequences written" in result.stdout and "24 already done" in result.stdout
    assert digests(casia_work / "pretreated") == before
    result = run_script("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes",
                        casia_raw / "silhouettes", "--pose-from", casia_raw / "poses",
                        "--out", casia_work)
    assert "24 already done" in result.stdout


def test_split_frames_and_bad_videos(casia_raw, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("001-nm-01-000.avi", "001-nm-01-090.avi"):
        (videos / name).write_bytes((casia_raw / "videos" / name).read_bytes())
    data = (casia_raw / "videos" / "002-nm-01-000.avi").read_bytes()
    (videos / "002-nm-01-000.avi").write_bytes(data[: len(data) // 2])   # truncated
    (videos / "003-nm-01-000.avi").write_bytes(b"")                        # empty
    (videos / "notes.avi").write_bytes(b"x")                               # not a CASIA-B name
    result = run_script("datasets_preprocess/casia_b/split_frames.py", "--videos", videos,
                        "--out", tmp_path / "frames")
    assert "3 videos split" in result.stdout and "1 truncated" in result.stdout
    assert "1 unreadable" in result.stdout and "1 with other names" in result.stdout
    frames = sorted(os.listdir(tmp_path / "frames" / "001" / "nm-01" / "090"))
    assert frames == [f"{i:03d}.jpg" for i in range(1, 21)]
    # The truncated video keeps exactly its frames whose JPEG chunk ('00dc') lies wholly in the
    # kept half, counted here by walking the AVI's 'movi' list by hand.
    kept, at = 0, data.index(b"movi") + 4
    while at + 8 <= len(data) // 2 and data[at:at + 4] == b"00dc":
        size = int.from_bytes(data[at + 4:at + 8], "little")
        kept += at + 8 + size <= len(data) // 2
        at += 8 + size + (size & 1)
    assert 0 < kept < 20
    assert len(os.listdir(tmp_path / "frames" / "002" / "nm-01" / "000")) == kept
    assert "002-nm-01-000.avi: truncated" in result.stderr
    assert "003-nm-01-000.avi: empty file" in result.stderr and "Traceback" not in result.stderr
    again = run_script("datasets_preprocess/casia_b/split_frames.py", "--videos", videos,
                       "--out", tmp_path / "frames")
    assert "3 already done" in again.stdout


def test_corrupt_silhouettes_and_poses_are_counted(casia_raw, tmp_path):
    sils = tmp_path / "silhouettes" / "001" / "nm-01" / "090"
    sils.mkdir(parents=True)
    src = casia_raw / "silhouettes" / "001" / "nm-01" / "090"
    names = sorted(os.listdir(src))
    for name in names:
        (sils / name).write_bytes((src / name).read_bytes())
    (sils / names[0]).write_bytes(b"")                                   # zero-byte PNG
    (sils / names[1]).write_bytes((src / names[1]).read_bytes()[:60])    # truncated PNG
    poses = tmp_path / "poses"
    poses.mkdir()
    doc = json.loads((casia_raw / "poses" / "001-nm-01-090.json").read_text())
    doc["frames"][5]["keypoints"] = doc["frames"][5]["keypoints"][:16]   # wrong joint count
    (poses / "001-nm-01-090.json").write_text(json.dumps(doc))
    work = tmp_path / "work"
    result = run_script("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes",
                        tmp_path / "silhouettes", "--pose-from", poses, "--out", work, check=False)
    assert "pose_files_bad" in result.stdout and "frames[5]" in result.stderr
    # Its only sequence lost its poses, so nothing is left to train on: exit 2, reasons named.
    assert result.returncode == 2 and "all 1 sequences were dropped (sequences: too_short 1" in result.stderr
    (work / "poses").mkdir(exist_ok=True)
    doc["frames"][5]["keypoints"] = json.loads(
        (casia_raw / "poses" / "001-nm-01-090.json").read_text())["frames"][5]["keypoints"]
    (work / "poses" / "001-nm-01-090.json").write_text(json.dumps(doc))
    other = tmp_path / "silhouettes" / "002" / "nm-01" / "090"        # a test subject, so that
    other.mkdir(parents=True)                                          # 001 is a training one
    for p in (casia_raw / "silhouettes" / "002" / "nm-01" / "090").iterdir():
        (other / p.name).write_bytes(p.read_bytes())
    result = run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
                        tmp_path / "silhouettes", "--out", work, "--train-count", "0", check=False)
    assert result.returncode == 2 and "--train-count 0: must leave train and test" in result.stderr
    assert not (work / "quality_report.json").exists()                # refused before any work
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
               tmp_path / "silhouettes", "--out", work, "--train-count", "1", check=False)
    report = json.loads((work / "quality_report.json").read_text())
    record = report["sequences"]["001/nm-01/090"]
    assert record["dropped_frames"]["unreadable_silhouette"] == 2
    assert record["status"] == "kept"


def test_bad_layout_and_missing_inputs_give_clear_errors(tmp_path):
    (tmp_path / "wrong" / "somewhere").mkdir(parents=True)
    cases = [
        (("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", tmp_path / "wrong",
          "--out", tmp_path / "w", "--no-poses"), "no CASIA-B sequence folders"),
        (("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", tmp_path / "wrong",
          "--out", tmp_path / "w"), "no poses folder; run make_pose_gei.py first"),
        (("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes", tmp_path / "nope",
          "--pose-from", tmp_path, "--out", tmp_path / "w"), "silhouettes folder not found"),
        (("datasets_preprocess/ccvid/rename_ids.py", "--src", tmp_path, "--out", tmp_path / "w"),
         "train.txt: split file not found"),
        (("datasets_preprocess/grew/rearrange_grew.py", "--src", tmp_path / "wrong", "--out", tmp_path / "w"),
         "no GREW sequences"),
        (("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", tmp_path / "wrong",
          "--out", tmp_path / "w", "--quality-rule", "min_frame=3"), "unknown quality rule(s): min_frame"),
    ]
    for args, message in cases:
        result = run_script(*args, check=False)
        assert result.returncode == 2 and message in result.stderr, (args[0], result.stderr[-1000:])
        assert "Traceback" not in result.stderr, args[0]


@pytest.mark.fault_injection
def test_interrupted_run_resumes_to_the_same_result(casia_raw, casia_work, tmp_path):
    """Ctrl-C after exactly three sequences are written (the child is parked there, so the
    test does not race the clock): exit 130 with one line, the three kept, no temp left; the
    same command finishes the rest and the result equals an uninterrupted run, byte for byte."""
    from pause_hook import pause_after
    work = tmp_path / "work"
    (work / "poses").mkdir(parents=True)
    for p in (casia_work / "poses").iterdir():
        (work / "poses" / p.name).write_bytes(p.read_bytes())
    cmd = [sys.executable, str(REPO_ROOT / "datasets_preprocess/casia_b/rearrange_to_grew.py"),
           "--silhouettes", str(casia_raw / "silhouettes"), "--out", str(work), "--workers", "1"]
    env, wait = pause_after(tmp_path, r"/pretreated/[^/]+/[^/]+/[^./][^/]*$", 3)
    # The child takes Ctrl-C as a terminal would deliver it even when this test runs under
    # `nohup ... &`, which starts it (and, by inheritance, every child) with SIGINT ignored.
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **env},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait(proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err[-1500:]
    assert len(list_sequences(work / "pretreated")) == 3
    run_script(*cmd[1:])
    assert digests(work / "pretreated") == digests(casia_work / "pretreated")
    leftovers = [p for p in (work / "pretreated").rglob(".*")]
    assert leftovers == []


@pytest.mark.slow                                  # 5.7 s (--durations)
def test_ccvid_end_to_end(tmp_path):
    raw, work = tmp_path / "raw", tmp_path / "work"
    run_script(GEN, "--layout", "ccvid", "--out", raw, "--subjects", "4", "--frames", "12")
    with open(raw / "query.txt", "a") as f:
        f.write("not a line\nsession9/999_01 999 u0_l0_s0_c0_a0\n")
    result = run_script("datasets_preprocess/ccvid/rename_ids.py", "--src", raw, "--out", work)
    assert "malformed_lines 1" in result.stdout and "missing_tracklets 1" in result.stdout
    run_script("datasets_preprocess/ccvid/rearrange_to_grew.py", "--src", raw, "--out", work,
               "--sils-from", raw / "masks", "--pose-from", raw / "poses")
    run_script("datasets_preprocess/ccvid/make_probe_gallery.py", "--out", work)
    part = read_partition(work / "ccvid.json")
    assert part["TRAIN_SET"] == ["001", "002"] and part["TEST_SET"] == ["003", "004"]
    query = [l.split("\t") for l in (raw / "query.txt").read_text().splitlines() if "\t" in l]
    assert len(part["PROBE_SET"]) == len(query) == 8
    for key in part["PROBE_SET"] + part["GALLERY_SET"]:
        pid, typ, view = key.split("/")
        info = part["SEQUENCE_INFO"][key]
        assert typ == f"{info['session']}_{info['clothes']}" and int(view) == info["camera"]
        assert pid in part["TEST_SET"]
        assert (work / "pretreated" / key / "1_sil.pkl").exists()
    tracklet, pid, clothes = query[0]
    key = next(k for k, v in part["SEQUENCE_INFO"].items() if v["tracklet"] == tracklet)
    assert part["SEQUENCE_INFO"][key]["clothes"] == clothes and key.startswith(pid)
    assert key.endswith(f"/{int(tracklet.split('_')[1]) + 12:02d}")  # session3 cameras + 12


@pytest.mark.slow                                  # 5.8 s (--durations)
def test_ccvid_grabcut_segmentation_without_weights(tmp_path):
    raw, work = tmp_path / "raw", tmp_path / "work"
    run_script(GEN, "--layout", "ccvid", "--out", raw, "--subjects", "2", "--frames", "8",
               "--views", "036,144", "--missing-frame-rate", "0", "--broken-frame-rate", "0")
    run_script("datasets_preprocess/ccvid/rename_ids.py", "--src", raw, "--out", work)
    result = run_script("datasets_preprocess/ccvid/rearrange_to_grew.py", "--src", raw, "--out",
                        work, "--segmenter", "grabcut", "--pose-from", raw / "poses")
    report = json.loads((work / "quality_report.json").read_text())["summary"]
    assert report["sequences_kept"] == 2 * 3 * 2 and "Traceback" not in result.stderr
    from gaitcore.segmentation import grabcut_person
    ious = []
    for tracklet in ["session1/001_01", "session2/002_02"]:
        for n in (1, 5):
            image = cv2.imread(str(raw / tracklet / f"{n:05d}.jpg"))
            truth = cv2.imread(str(raw / "masks" / tracklet / f"{n:05d}.png"), 0) > 0
            mask = grabcut_person(image) > 0
            ious.append((mask & truth).sum() / (mask | truth).sum())
    assert np.mean(ious) > 0.7, ious


def test_grew_end_to_end_with_a_bad_pose_file(tmp_path):
    raw, work = tmp_path / "raw", tmp_path / "work"
    run_script(GEN, "--layout", "grew", "--out", raw, "--subjects", "6", "--frames", "16",
               "--missing-frame-rate", "0", "--broken-frame-rate", "0")
    seq = sorted(p for p in (raw / "train" / "00001").iterdir() if p.is_dir())[0]
    pose_file = sorted(seq.glob("*_2d_pose.txt"))[3]
    values = pose_file.read_text().strip().split(",")
    pose_file.write_text(",".join(values[:50]) + "\n")                  # 50 values, not 53
    run_script("datasets_preprocess/grew/rearrange_grew.py", "--src", raw, "--out", work)
    part = read_partition(work / "grew.json")
    assert part["TRAIN_SET"] == [f"{i:05d}train" for i in range(1, 5)]
    assert part["TEST_SET"] == ["00005", "00006", "probe"]
    keys = [r.key for r in list_sequences(work / "pretreated")]
    assert sum(k.startswith("probe/03/") for k in keys) == 4
    assert {k.split("/")[1] for k in keys if k.startswith("00005/")} == {"01", "02"}
    assert all(k.split("/")[1] == "00" for k in keys if "train" in k)
    record = json.loads((work / "quality_report.json").read_text())["sequences"][
        f"00001train/00/{seq.name}"]
    assert record["dropped_frames"]["bad_pose_file"] == 1
    arrays = read_sequence(work / "pretreated" / f"00001train/00/{seq.name}")
    assert arrays["2_pose"].shape[1:] == (17, 3) and arrays["1_sil"].shape[1:] == (64, 64)
    # GREW's silhouettes are aligned already: written as they are, every frame of a probe.
    probes = sorted(p for p in (raw / "test" / "probe").iterdir() if p.is_dir())
    assert sorted(part["TEST_SEQUENCES"]) == sorted(
        [f"probe/03/{p.name}" for p in probes] + [k for k in keys if k.startswith(("00005/", "00006/"))])
    pngs = sorted(p for p in probes[0].glob("*.png") if not p.name.endswith("_gei.png"))
    raw_sils = np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in pngs])
    np.testing.assert_array_equal(read_sequence(work / "pretreated" / f"probe/03/{probes[0].name}")["1_sil"],
                                  raw_sils)


def test_detection_options_are_defined_once_with_device_auto():
    import argparse

    import torch

    from gaitcore.cli import resolve_device_name
    from gaitcore.video_walkers import add_detection_arguments
    p = argparse.ArgumentParser()
    add_detection_arguments(p, seg_model=False, imgsz=320, help_texts={"imgsz": "size (default {default})"})
    args = p.parse_args([])
    assert (args.device, args.imgsz, args.pose_model) == ("auto", 320, "yolo11n-pose.pt")
    assert not hasattr(args, "seg_model") and "size (default 320)" in p.format_help()
    assert resolve_device_name("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device_name("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="no option colour"):
        add_detection_arguments(argparse.ArgumentParser(), help_texts={"colour": "x"})


@pytest.mark.parametrize("count", ["0", "-1", "99"])
def test_a_bad_train_count_is_refused_before_any_work(casia_raw, tmp_path, count):
    """Below 1 while parsing; leaving no test subject (3 here) as soon as the subjects are listed:
    either way before a pose file, GEI or pickle is written, so no output folder appears."""
    runs = {"make_pose_gei": ("datasets_preprocess/casia_b/make_pose_gei.py", "--pose-from", casia_raw / "poses"),
            "rearrange_to_grew": ("datasets_preprocess/casia_b/rearrange_to_grew.py", "--no-poses")}
    for name, (script, *extra) in runs.items():
        out = tmp_path / name
        result = run_script(script, "--silhouettes", casia_raw / "silhouettes", *extra, "--out", out,
                            "--train-count", count, check=False)
        assert result.returncode == 2, result.stderr
        assert f"--train-count {count}: must leave train and test subjects" in result.stderr
        assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.fault_injection
def test_expected_test_sequences_come_from_the_datasets_videos(casia_raw, tmp_path):
    """A test sequence whose silhouette folder was deleted is still expected (its video says it
    exists), so the evaluator counts it as a miss instead of shrinking the denominator."""
    import shutil
    raw = tmp_path / "raw"
    shutil.copytree(casia_raw / "silhouettes", raw / "silhouettes")
    shutil.copytree(casia_raw / "videos", raw / "videos")
    test_id = sorted(p.name for p in (raw / "silhouettes").iterdir())[-1]          # the last id tests
    gone = f"{test_id}/nm-01/000"
    shutil.rmtree(raw / "silhouettes" / gone)
    work = tmp_path / "work"
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", raw / "silhouettes",
               "--out", work, "--no-poses")
    partition = json.loads((work / "casia_b.json").read_text())
    assert test_id in partition["TEST_SET"] and gone in partition["TEST_SEQUENCES"]
    assert not (work / "pretreated" / gone).exists()
    videos = {"{0}/{1}-{2}/{3}".format(*p.stem.split("-")) for p in (raw / "videos").iterdir()}
    assert set(partition["TEST_SEQUENCES"]) == {k for k in videos if k.split("/")[0] in partition["TEST_SET"]}
    # Without videos the silhouette folders are the index, and the deleted one is not listed.
    shutil.rmtree(raw / "videos")
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", raw / "silhouettes",
               "--out", tmp_path / "work2", "--no-poses")
    assert gone not in json.loads((tmp_path / "work2" / "casia_b.json").read_text())["TEST_SEQUENCES"]
