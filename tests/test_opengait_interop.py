"""Data and checkpoints move both ways between this project and OpenGait."""
from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest

from conftest import run_script, write_config
from datasets_preprocess.common.pretreated_io import list_sequences, read_sequence

MAIN = "opengait/opengait/main.py"
VALIDATE = "datasets_preprocess/validate_pretreated.py"
TINY_GAITBASE = {"model": "GaitBase", "backbone_cfg": {"channels": [8, 16, 32, 64]},
                 "SeparateFCs": {"in_channels": 64, "out_channels": 32, "parts_num": 8},
                 "bin_num": [8]}


@pytest.fixture(scope="module")
def opengait_root(pretreated_casia, tmp_path_factory):
    """Our silhouettes re-written the way OpenGait's pretreatment names them:
    <id>/<type>/<view>/<view>.pkl, a plain pickle of the uint8 array."""
    root = tmp_path_factory.mktemp("opengait_root")
    for ref in list_sequences(pretreated_casia / "pretreated"):
        folder = root / "pretreated" / ref.subject / ref.type / ref.view
        folder.mkdir(parents=True)
        with open(folder / f"{ref.view}.pkl", "wb") as f:
            pickle.dump(read_sequence(ref.path)["1_sil"], f)
    shutil.copy(pretreated_casia / "casia_b.json", root / "casia_b.json")
    return root


def test_our_files_are_what_opengaits_loader_reads(pretreated_casia):
    """OpenGait's DataSet opens each .pkl with plain pickle and takes them in sorted order."""
    ref = list_sequences(pretreated_casia / "pretreated")[0]
    assert list(ref.files) == sorted(ref.files) == ["0_heatmap.pkl", "1_sil.pkl", "2_pose.pkl"]
    loaded = []
    for name in ref.files:
        with open(ref.path / name, "rb") as f:
            loaded.append(pickle.load(f))
    assert [a.dtype for a in loaded] == [np.uint8, np.uint8, np.float32]
    assert loaded[0].shape[1:] == (2, 64, 64) and loaded[1].shape[1:] == (64, 64)
    assert len({len(a) for a in loaded}) == 1


def test_an_opengait_named_root_validates_trains_and_evaluates(opengait_root, tmp_path):
    result = run_script(VALIDATE, "--root", opengait_root / "pretreated",
                        "--partition", opengait_root / "casia_b.json")
    assert "0 broken" in result.stdout and "identified by content" in result.stderr
    assert "position 0: 1_sil" in result.stderr
    cfg = write_config(tmp_path / "og.yaml", opengait_root, TINY_GAITBASE,
                       trainer_cfg={"total_iter": 4, "save_iter": 4})
    run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out")
    test = run_script(MAIN, "--cfgs", cfg, "--phase", "test", "--output_root", tmp_path / "out")
    assert "results: NM" in test.stdout
    record = json.loads((tmp_path / "out/synthetic/GaitBase/test_run/eval/00004.json").read_text())
    assert set(record["results"]) == {"NM", "BG", "CL"}
    assert record["coverage"]["NM"]["evaluated"] == record["coverage"]["NM"]["expected"] > 0


def test_validator_and_trainer_refuse_the_same_broken_root(opengait_root, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(opengait_root, root)
    seq = next((root / "pretreated" / "001").rglob("*.pkl")).parent         # a training id
    (seq / "extra.pkl").write_bytes((seq / f"{seq.name}.pkl").read_bytes())
    result = run_script(VALIDATE, "--root", root / "pretreated", check=False)
    assert result.returncode == 1 and "2 .pkl files" in result.stderr and "1 broken" in result.stdout
    cfg = write_config(tmp_path / "og.yaml", root, TINY_GAITBASE, trainer_cfg={"total_iter": 2})
    train = run_script(MAIN, "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out",
                       check=False)
    assert train.returncode == 2 and "2 .pkl files" in train.stderr and "Traceback" not in train.stderr
