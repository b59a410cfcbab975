"""Faults injected on purpose: damaged or hostile files, runs that would overwrite other runs,
interrupted processes. Each must end in a one-line error naming the file, or a counted skip,
and never in lost or silently mixed results."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT, read_scalars, run_script, write_config
from pause_hook import pause_after

pytestmark = pytest.mark.fault_injection

MAIN = "opengait/opengait/main.py"
TINY_GAITBASE = {"model": "GaitBase", "backbone_cfg": {"channels": [8, 16, 32, 64]},
                 "SeparateFCs": {"in_channels": 64, "out_channels": 32, "parts_num": 8},
                 "bin_num": [8]}


def gaitbase_config(tmp_path, root, **trainer):
    return write_config(tmp_path / "gaitbase.yaml", root, TINY_GAITBASE,
                        data_cfg={"data_in_use": [False, True, False]},
                        trainer_cfg={"total_iter": 4, "save_iter": 2, "image_log_iter": 0, **trainer})


@pytest.mark.slow
def test_a_fresh_run_does_not_write_over_an_earlier_one(pretreated_casia, tmp_path):
    cfg = gaitbase_config(tmp_path, pretreated_casia)
    out = tmp_path / "out"
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out)
    run = out / "synthetic" / "GaitBase" / "test_run"
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    again = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out, check=False)
    assert again.returncode == 2
    assert f"{run}: holds the checkpoints of an earlier run (newest test_run-00004.pt)" in again.stderr
    assert "restore_hint=latest" in again.stderr and "--overwrite" in again.stderr
    assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == before
    # --overwrite starts again and keeps the earlier run, moved aside.
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out, "--overwrite")
    aside = [p for p in run.parent.iterdir() if p.name.startswith("test_run.replaced-")]
    assert len(aside) == 1
    assert {p.name: p.read_bytes() for p in (aside[0] / "checkpoints").iterdir()} == before
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["test_run-00002.pt", "test_run-00004.pt"]
    assert sorted(read_scalars(run / "summary")["scalar/softmax/loss"]) == [1, 2, 3, 4]


@pytest.mark.slow
def test_latest_passes_over_a_cut_checkpoint(pretreated_casia, tmp_path):
    cfg = gaitbase_config(tmp_path, pretreated_casia)
    out = tmp_path / "out"
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out,
               "--set", "trainer_cfg.total_iter=2")
    run = out / "synthetic" / "GaitBase" / "test_run" / "checkpoints"
    # A later checkpoint cut short (a full disk, a copy interrupted): half of its bytes.
    good = (run / "test_run-00002.pt").read_bytes()
    (run / "test_run-00003.pt").write_bytes(good[: len(good) // 2])
    resumed = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out,
                         "--set", "trainer_cfg.restore_hint=latest")
    assert "test_run-00003.pt: skipped, not a complete checkpoint archive" in resumed.stderr
    assert "resumed from" in resumed.stderr and "test_run-00002.pt at iteration 2" in resumed.stderr
    assert (run / "test_run-00004.pt").exists()
    # Testing the cut file itself is a one-line error naming it.
    bad = run_script(MAIN, "--cfgs", cfg, "--phase", "test", "--output_root", out,
                     "--set", f"evaluator_cfg.restore_hint={run / 'test_run-00003.pt'}", check=False)
    assert bad.returncode == 2 and "test_run-00003.pt: not a loadable checkpoint" in bad.stderr


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.slow
def test_a_crafted_yolo_checkpoint_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "yolo-evil.pt"
    torch.save({"model": _Payload(marker), "train_args": {}}, evil)
    code = ("import sys; from gaitcore.errors import ModelLoadError; from gaitcore.pose_estimation import load_yolo\n"
            "try:\n    load_yolo(sys.argv[1], 'pose')\nexcept ModelLoadError as e:\n    print('refused:', e)\n")
    result = subprocess.run([sys.executable, "-c", code, str(evil)], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300)
    assert "refused:" in result.stdout and str(evil) in result.stdout, result.stderr[-2000:]
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".pth", ".torchscript", ".bin", ".onnx"])
def test_exported_model_files_are_refused_before_any_work(tmp_path, suffix):
    """ultralytics would load these outside its safe mode (a .torchscript or .pth can carry code)
    and fail later inside the worker pool: refused while parsing, and by the loader itself."""
    model = tmp_path / f"yolo11n-pose{suffix}"
    model.write_bytes(b"not a model")
    for script, extra in (("datasets_preprocess/ccvid/rearrange_to_grew.py", ["--src", tmp_path, "--out", tmp_path / "w"]),
                          ("opengait/opengait/tools/enroll_gallery.py", ["--cfgs", "x.yaml", "--ckpt", "x.pt",
                                                                         "--videos", tmp_path, "--out", tmp_path / "g.npz"])):
        result = run_script(script, *extra, "--pose-model", model, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-800:]
        assert f"argument --pose-model: {model}: a {suffix} file" in result.stderr
    code = ("import sys; from gaitcore.errors import ModelLoadError; from gaitcore.pose_estimation import load_yolo\n"
            "try:\n    load_yolo(sys.argv[1], 'pose')\nexcept ModelLoadError as e:\n    print('refused:', e)\n")
    result = subprocess.run([sys.executable, "-c", code, str(model)], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300)
    assert f"refused: {model}: a {suffix} file" in result.stdout, result.stderr[-1000:]


# --- preprocessing inputs -------------------------------------------------------------------

GEN = "datasets_preprocess/synthetic/make_synthetic_gait.py"


@pytest.fixture(scope="module")
def casia_small(tmp_path_factory):
    raw = tmp_path_factory.mktemp("casia_small") / "raw"
    run_script(GEN, "--out", raw, "--subjects", "2", "--types", "nm-01,bg-01,cl-01", "--views", "090",
               "--frames", "12", "--missing-frame-rate", "0", "--broken-frame-rate", "0")
    return raw


def copy_tree(src, dst):
    for p in src.rglob("*"):
        if p.is_file():
            target = dst / p.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(p.read_bytes())


def test_masks_in_other_encodings_are_read_as_silhouettes(tmp_path):
    import cv2
    import numpy as np
    from gaitcore.image_io import read_mask
    person = np.zeros((48, 24), np.uint8)
    person[6:42, 6:18] = 255
    encodings = {
        "grey.png": person,                                           # as OpenGait reads it
        "zero_one.png": (person > 0).astype(np.uint8),                # values 0/1
        "red_on_black.png": np.dstack([0 * person, 0 * person, person]),
        "palette_like.png": np.dstack([(person > 0) * 40, (person > 0) * 90, 0 * person]).astype(np.uint8),
        "sixteen_bit.png": (person > 0).astype(np.uint16) * 65535,
        "grey_as_rgb.png": np.dstack([person, person, person]),
    }
    for name, image in encodings.items():
        cv2.imwrite(str(tmp_path / name), image)
        mask = read_mask(tmp_path / name)
        assert mask.dtype == np.uint8 and mask.shape == person.shape, name
        assert ((mask > 127) == (person > 0)).all(), name
    # A JPEG-stored grey mask reads exactly as cv2's grey decoder gives it (OpenGait's reading).
    cv2.imwrite(str(tmp_path / "grey.jpg"), np.dstack([person, person, person]))
    assert (read_mask(tmp_path / "grey.jpg") == cv2.imread(str(tmp_path / "grey.jpg"), cv2.IMREAD_GRAYSCALE)).all()


def test_impossible_joints_become_missing_by_hand():
    import numpy as np
    from gaitcore.sequence_builder import usable_joints
    pose = np.tile(np.array([[10.0, 20.0, 0.9]], np.float32), (17, 1))
    pose[1] = [np.nan, 5.0, 0.9]
    pose[2] = [5.0, np.inf, 0.9]
    pose[3] = [5.0, 5.0, -0.5]
    pose[4] = [1e9, 5.0, 0.9]
    pose[5] = [-150.0, 5.0, 0.9]     # image 100 x 200 (h x w): -150 > -200, a near miss, kept
    pose[6] = [5.0, 250.0, 0.9]      # y beyond 2 * 100
    cleaned, count = usable_joints(pose, (100, 200))
    assert count == 5
    assert (cleaned[[1, 2, 3, 4, 6]] == 0).all() and (cleaned[[0, 5]] == pose[[0, 5]]).all()
    assert np.isfinite(cleaned).all() and np.isnan(pose[1, 0])           # the input is untouched
    _, count = usable_joints(pose, None)                                  # GREW: no range check
    assert count == 3


def test_non_finite_keypoints_are_counted_and_never_reach_the_pickles(casia_small, tmp_path):
    import json
    import numpy as np
    from gaitcore.pretreated_io import read_sequence
    poses = tmp_path / "poses"
    copy_tree(casia_small / "poses", poses)
    path = poses / "001-nm-01-090.json"
    text = path.read_text()
    doc = json.loads(text)
    doc["frames"][2]["keypoints"][0] = [float("nan"), 1.0, 0.9]
    doc["frames"][3]["keypoints"][5] = [float("inf"), 1.0, 0.9]
    doc["frames"][4]["keypoints"][7] = [1e12, -1e12, 0.9]
    path.write_text(json.dumps(doc))                                       # NaN / Infinity tokens
    work = tmp_path / "work"
    run_script("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes", casia_small / "silhouettes",
               "--pose-from", poses, "--out", work)
    result = run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
                        casia_small / "silhouettes", "--out", work, "--train-count", "1")
    assert "3 impossible joints read as missing" in result.stdout
    report = json.loads((work / "quality_report.json").read_text())
    assert report["sequences"]["001/nm-01/090"]["invalid_joints"] == 3
    arrays = read_sequence(work / "pretreated" / "001" / "nm-01" / "090")
    for array in arrays.values():
        assert np.isfinite(np.asarray(array, np.float64)).all()


def test_a_run_that_drops_everything_fails_and_writes_no_partition(casia_small, tmp_path):
    work = tmp_path / "work"
    run_script("datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes", casia_small / "silhouettes",
               "--pose-from", casia_small / "poses", "--out", work)
    result = run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes",
                        casia_small / "silhouettes", "--out", work / "strict", "--no-poses",
                        "--quality-rule", "min_sil_pixels=1000000", check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [l for l in result.stderr.splitlines() if "all 3 training sequences were dropped" in l]
    assert len(lines) == 1 and "small_silhouette" in lines[0] and "quality_report.json" in lines[0]
    assert not (work / "strict" / "casia_b.json").exists()
    assert "Traceback" not in result.stderr


# --- training inputs ------------------------------------------------------------------------

def copy_root(pretreated_casia, tmp_path):
    root = tmp_path / "root"
    copy_tree(pretreated_casia / "pretreated", root / "pretreated")
    (root / "casia_b.json").write_bytes((pretreated_casia / "casia_b.json").read_bytes())
    return root


def data_cfg(root, **extra):
    from opengait.config import settings_from_dict
    return settings_from_dict({"data_cfg": {"dataset_root": str(root / "pretreated"),
                                            "dataset_partition": str(root / "casia_b.json"),
                                            "max_failed_share": 0.5, **extra}}).data


@pytest.mark.slow
def test_a_cut_pickle_stops_training_before_it_starts(pretreated_casia, tmp_path):
    root = copy_root(pretreated_casia, tmp_path)
    victim = sorted((root / "pretreated").glob("001/*/*/1_sil.pkl"))[0]
    victim.write_bytes(victim.read_bytes()[:-100])
    cfg = gaitbase_config(tmp_path, root)
    result = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = [l for l in result.stderr.splitlines() if str(victim) in l]
    assert len(line) == 1 and "not a readable pickle" in line[0] and "validate_pretreated.py" in line[0]
    assert not (tmp_path / "out" / "synthetic" / "GaitBase" / "test_run" / "summary").exists()
    assert not (tmp_path / "out" / "synthetic" / "GaitBase" / "test_run" / "config.yaml").exists()


def test_a_sequence_that_fails_mid_run_is_skipped_and_counted(pretreated_casia, tmp_path, caplog):
    import numpy as np
    from gaitcore.pretreated_io import PretreatedFormatError, read_pkl
    from opengait.data.dataset import GaitDataset
    root = copy_root(pretreated_casia, tmp_path)
    dataset = GaitDataset(data_cfg(root), train=True)
    bad = 0
    pose_file = dataset.sequences[bad].path / "2_pose.pkl"
    pose = read_pkl(pose_file)
    pose[0, 0, 0] = np.nan                     # the header stays valid; the values do not
    pose_file.write_bytes(pickle.dumps(pose, protocol=4))
    dataset = GaitDataset(data_cfg(root), train=True)            # passes the header check
    item = dataset[bad]
    assert item["index"] != bad and dataset.labels[item["index"]] == dataset.labels[bad]
    assert dataset.failed == {bad} and "skipped (1 failed so far)" in caplog.text and "NaN" in caplog.text
    strict = GaitDataset(data_cfg(root, max_failed_share=0.0), train=True)
    with pytest.raises(PretreatedFormatError, match="more than data_cfg.max_failed_share 0.0"):
        strict[bad]
    test_set = GaitDataset(data_cfg(root), train=False)
    assert len(test_set) > 0                                      # the test split never substitutes


def test_the_nan_message_tells_bad_data_from_divergence():
    import torch
    from types import SimpleNamespace
    from opengait.engine.trainer import nonfinite_cause
    dataset = SimpleNamespace(sequences=[SimpleNamespace(key=f"00{i}/nm-01/090") for i in range(4)])
    pose = torch.zeros(4, 5, 17, 3)
    batch = {"inputs": {"2_pose": pose, "1_sil": torch.zeros(4, 5, 8, 8, dtype=torch.uint8)},
             "indices": torch.tensor([0, 1, 2, 3])}
    assert "training diverged" in nonfinite_cause(batch, dataset)
    pose[2, 3, 4, 0] = float("nan")
    message = nonfinite_cause(batch, dataset)
    assert "the data is bad" in message and "2_pose of 002/nm-01/090" in message and "001" not in message


@pytest.mark.parametrize("setting, message", [
    ("trainer_cfg.total_iter=six hundred", "trainer_cfg.total_iter: 'six hundred', expected an integer"),
    ("optimizer_cfg.lr=fast", "optimizer_cfg.lr: 'fast' for SGD, expected a finite number"),
    ("optimizer_cfg.momentum=yes", "optimizer_cfg.momentum: True for SGD, expected a finite number"),
    ("trainer_cfg.sampler.frames_num_fixed=-5", "trainer_cfg.sampler.frames_num_fixed: -5, expected at least 1"),
    ("trainer_cfg.sampler.batch_size=[2, 0]", "trainer_cfg.sampler.batch_size: [2, 0], expected [P ids, K sequences]"),
    ("trainer_cfg.fix_BN=maybe", "trainer_cfg.fix_BN: 'maybe', expected true or false"),
    ("optimizer_cfg.lr=-0.1", "Invalid learning rate"),
    ("scheduler_cfg.gamma=[0.1]", "scheduler_cfg.gamma: [0.1] for MultiStepLR, expected a finite number"),
    ("trainer_cfg.save_name=exp/v1", "trainer_cfg.save_name: 'exp/v1' must be a plain folder name"),
    ("trainer_cfg.save_name=../../escape", "trainer_cfg.save_name: '../../escape' must be a plain folder name"),
    ("trainer_cfg.save_name=/tmp/abs", "trainer_cfg.save_name: '/tmp/abs' must be a plain folder name"),
    ("trainer_cfg.save_name=.", "trainer_cfg.save_name: '.' must be a plain folder name"),
    ("data_cfg.dataset_name=../x", "data_cfg.dataset_name: '../x' must be a plain folder name"),
    ("evaluator_cfg.save_name=a/b", "evaluator_cfg.save_name: 'a/b' must be a plain folder name"),
    ("optimizer_cfg.lr=.nan", "optimizer_cfg.lr: nan for SGD, expected a finite number"),
    ("optimizer_cfg.lr=.inf", "optimizer_cfg.lr: inf for SGD, expected a finite number"),
    ("trainer_cfg.grad_clip=.nan", "trainer_cfg.grad_clip: nan, expected a finite number"),
    ("trainer_cfg.total_iter=!!python/object/apply:os.system ['echo ran']", "the value is not plain YAML data"),
])
@pytest.mark.slow
def test_wrong_config_types_are_one_line_errors_at_load(pretreated_casia, tmp_path, setting, message):
    """load_config (main.py's only check, before any run folder) refuses each in one line."""
    from gaitcore.errors import ConfigError
    from opengait.config import load_config
    cfg = gaitbase_config(tmp_path, pretreated_casia)
    with pytest.raises(ConfigError) as refused:
        load_config(cfg, [setting], phase="train")
    assert message in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("setting, message", [
    ("trainer_cfg.total_iter=six hundred", "trainer_cfg.total_iter: 'six hundred', expected an integer"),
    ("trainer_cfg.total_iter=!!python/object/apply:os.system ['echo ran']", "the value is not plain YAML data"),
])
def test_main_stops_on_a_wrong_config_in_one_line_before_any_run_folder(pretreated_casia, tmp_path, setting, message):
    cfg = gaitbase_config(tmp_path, pretreated_casia)
    out = tmp_path / "out"
    result = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out, "--set", setting, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "ran" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-1500:]
    assert not out.exists()


@pytest.mark.slow
def test_config_files_that_are_not_utf8_or_name_a_key_twice_are_one_line_errors(tmp_path):
    cfg = tmp_path / "twice.yaml"
    cfg.write_text("trainer_cfg:\n  total_iter: 10\n  save_name: a\n  total_iter: 20\n")
    result = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "key 'total_iter' appears twice in one mapping, on line 2 and line 4" in result.stderr
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("trainer_cfg:\n  save_name: caf\xe9\n".encode("latin-1"))
    result = run_script(MAIN, "--cfgs", latin, "--phase", "train", "--output_root", tmp_path / "out", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "latin.yaml: not UTF-8 text" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_window_far_longer_than_every_sequence_is_refused_before_the_first_batch(pretreated_casia, tmp_path):
    """frames_num_fixed 100000 would tile 16-frame sequences into a batch of gigabytes."""
    cfg = gaitbase_config(tmp_path, pretreated_casia)
    result = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out",
                        "--set", "trainer_cfg.sampler.frames_num_fixed=100000", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "frames_num_fixed: 100000 frames per sequence, but the longest sequence has 16" in result.stderr
    assert not list((tmp_path / "out").rglob("*.pt"))


def test_quality_rules_out_of_range_are_refused(tmp_path):
    for rule, message in (("min_frames=-1", "min_frames=-1: expected a whole number from 1 up"),
                          ("min_area_ratio=1.5", "min_area_ratio=1.5: expected a number from 0.0 to 1.0"),
                          ("min_frames=!!python/name:os.system", "the value is not plain YAML data")):
        result = run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", tmp_path,
                            "--out", tmp_path / "work", "--quality-rule", rule, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr and message in result.stderr, rule


@pytest.mark.slow
def test_a_full_disk_stops_in_one_line_and_loses_nothing(pretreated_casia, tmp_path):
    """The device fills up while the iteration-4 checkpoint is being put in place (an injected
    ENOSPC on exactly that file, through sitecustomize in the child): one line naming the file,
    the iteration-2 checkpoint intact, no temp file left; the same command then finishes."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import errno, os\n_replace = os.replace\n"
        "def replace(src, dst, *a, **k):\n"
        "    if str(dst).endswith('-00004.pt'):\n"
        "        raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "    return _replace(src, dst, *a, **k)\n"
        "os.replace = replace\n")
    cfg = gaitbase_config(tmp_path, pretreated_casia)
    out = tmp_path / "out"
    env = {"PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
    full = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out, check=False, env=env)
    run = out / "synthetic" / "GaitBase" / "test_run"
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr[-1500:]
    assert f"no space left on the device while writing {run / 'checkpoints' / 'test_run-00004.pt'}" in full.stderr
    assert "nothing already written was lost" in full.stderr
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["test_run-00002.pt"]
    torch.load(run / "checkpoints" / "test_run-00002.pt", weights_only=True)
    again = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out,
                       "--set", "trainer_cfg.restore_hint=latest")
    assert "resumed from" in again.stderr
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["test_run-00002.pt", "test_run-00004.pt"]


@pytest.mark.slow
def test_a_second_training_into_the_same_run_folder_is_refused(pretreated_casia, tmp_path):
    """The run folder's lock is held (here by this test, as by a training in progress): a
    training with the same save_name stops in one line naming the holder, writing nothing."""
    from gaitcore.atomic_files import FolderLock
    cfg = gaitbase_config(tmp_path, pretreated_casia)
    out = tmp_path / "out"
    lock = FolderLock(out / "synthetic" / "GaitBase" / ".test_run.lock").acquire()
    try:
        second = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", out, check=False)
    finally:
        lock.release()
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert "another training is writing into this run folder" in second.stderr
    assert f"held by process {os.getpid()}" in second.stderr
    assert not (out / "synthetic" / "GaitBase" / "test_run").exists()


# --- kill -9 and resume ---------------------------------------------------------------------

def start(script, *args, env=None):
    return subprocess.Popen([sys.executable, str(REPO_ROOT / script), *map(str, args)], cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def kill_parked(proc, wait):
    """SIGKILL ``proc`` once ``wait(proc)`` says a process of its tree is parked at the pause
    point (see pause_hook); return the pids of its children, taken before the kill."""
    import psutil
    wait(proc)
    children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    proc.kill()
    proc.wait(timeout=60)
    return children


def assert_gone(pids, timeout=15):
    import psutil
    import time
    deadline = time.time() + timeout
    alive = list(pids)
    while alive and time.time() < deadline:
        alive = [p for p in alive if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.1)
    assert not alive, f"orphaned processes still running: {alive}"


def tree_digest(root):
    import hashlib
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_kill9_during_preprocessing_with_workers_then_resume(tmp_path):
    raw = tmp_path / "raw"
    run_script(GEN, "--out", raw, "--subjects", "4", "--types", "nm-01,nm-02,bg-01,cl-01", "--views", "000,090",
               "--frames", "24")
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    for work in (whole, cut):
        copy_tree(raw / "poses", work / "poses")
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", raw / "silhouettes",
               "--out", whole, "--workers", "2")
    env, wait = pause_after(tmp_path, r"/pretreated/[^/]+/[^/]+/[^./][^/]*$", 2)   # a worker's 2nd sequence
    proc = start("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", raw / "silhouettes",
                 "--out", cut, "--workers", "2", env=env)
    workers = kill_parked(proc, wait)
    written = lambda work: len(list((work / "pretreated").glob("*/*/*/1_sil.pkl")))
    assert 2 <= written(cut) < written(whole)
    assert workers, "the run had no worker processes"
    assert_gone(workers)                                   # pool workers exit with their parent
    run_script("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", raw / "silhouettes",
               "--out", cut, "--workers", "2")
    assert tree_digest(cut / "pretreated") == tree_digest(whole / "pretreated")
    assert json.loads((cut / "casia_b.json").read_text()) == json.loads((whole / "casia_b.json").read_text())
    assert not [p for p in cut.rglob("*") if p.name.startswith(".")]     # no temp files left


@pytest.mark.slow
def test_kill9_during_training_then_resume_gives_the_same_weights(pretreated_casia, tmp_path):
    cfg = gaitbase_config(tmp_path, pretreated_casia, total_iter=8, save_iter=2)
    env = {"OMP_NUM_THREADS": "1"}
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "whole", env=env)
    cut_run = tmp_path / "cut" / "synthetic" / "GaitBase" / "test_run"
    pause_env, wait = pause_after(tmp_path, r"-00004\.pt$", 1)
    proc = start(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "cut", env={**env, **pause_env})
    kill_parked(proc, wait)
    assert not (cut_run / "checkpoints" / "test_run-00008.pt").exists()
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "cut",
               "--set", "trainer_cfg.restore_hint=latest", env=env)
    whole = torch.load(tmp_path / "whole" / "synthetic" / "GaitBase" / "test_run" / "checkpoints" / "test_run-00008.pt",
                       weights_only=True)["model"]
    resumed = torch.load(cut_run / "checkpoints" / "test_run-00008.pt", weights_only=True)["model"]
    assert whole.keys() == resumed.keys()
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key
    assert not [p for p in cut_run.rglob("*") if p.name.startswith(".")]


@pytest.mark.slow
def test_kill9_during_a_dlcr_stage_then_resume(tmp_path):
    import cv2
    from conftest import make_synthetic_ccvid
    from gaitcore.jsonl_records import read_records
    from dlcr.tiny_models import save_tiny_sd_inpaint
    raw = make_synthetic_ccvid(tmp_path / "ccvid", frames=4)
    sd = save_tiny_sd_inpaint(tmp_path / "sd")
    masks = tmp_path / "masks"
    for mask_file in sorted((raw / "masks").rglob("*.png")):              # the lower half of each person
        mask = cv2.imread(str(mask_file), cv2.IMREAD_GRAYSCALE)
        mask[: mask.shape[0] // 2] = 0
        target = masks / mask_file.relative_to(raw / "masks")
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), mask)
    outfits = sorted({f"{p[1]}_{p[2]}" for p in (l.split("\t") for l in (raw / "train.txt").read_text().splitlines())})
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"outfit": o, "pid": o.split("_")[0], "items": ["red shirt"],
                                           "prompt": f"a person wearing red shirt {i}"}) + "\n"
                               for i, o in enumerate(outfits)))
    args = ["--src", raw, "--masks", masks, "--prompts", prompts, "--ckpt", sd, "--n", "2", "--fraction", "1",
            "--steps", "2", "--size", "64", "32", "--batch-size", "1"]
    env = {"OMP_NUM_THREADS": "1"}
    run_script(STAGE4, *args, "--out", tmp_path / "whole", env=env)
    cut = tmp_path / "cut"
    pause_env, wait = pause_after(tmp_path, r"\.png$", 3)
    proc = start(STAGE4, *args, "--out", cut, env={**env, **pause_env})
    kill_parked(proc, wait)
    assert len(list(cut.rglob("*.png"))) == 3
    run_script(STAGE4, *args, "--out", cut, env=env)
    whole_records = read_records(tmp_path / "whole" / "inpaint.jsonl")
    cut_records = read_records(cut / "inpaint.jsonl")
    assert cut_records == whole_records
    images = lambda root: {k: v for k, v in tree_digest(root).items() if k.endswith(".png")}
    assert images(cut) == images(tmp_path / "whole")
    assert not [p for p in cut.rglob("*") if p.name.startswith(".")]


STAGE4 = "dlcr/sd_inpaint/inpaint_clothes.py"


def test_rerun_with_other_quality_rules_is_refused_unless_overwrite(tmp_path):
    raw, work = tmp_path / "raw", tmp_path / "work"
    run_script(GEN, "--out", raw, "--subjects", "2", "--types", "nm-01", "--views", "090", "--frames", "20")
    copy_tree(raw / "poses", work / "poses")
    args = ("datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", raw / "silhouettes",
            "--out", work, "--workers", "1")
    run_script(*args)
    before = tree_digest(work / "pretreated")
    result = run_script(*args, "--quality-rule", "min_frames=30", check=False)
    assert result.returncode == 2, result.stderr
    assert "made with other quality rules (min_frames 8 -> 30)" in result.stderr
    assert "--overwrite" in result.stderr and tree_digest(work / "pretreated") == before
    run_script(*args)                                            # same rules again: accepted
    result = run_script(*args, "--quality-rule", "min_frames=30", "--overwrite", check=False)
    # 20-frame training sequence < 30: dropped under the new rules (test one kept), not mixed
    rules = json.loads((work / "quality_rules.json").read_text())
    assert rules["min_frames"] == 30
    report = json.loads((work / "quality_report.json").read_text())["summary"]
    assert report["train_sequences_dropped"] == 1, report
