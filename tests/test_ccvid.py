"""The CCVID protocol: metrics on a hand-made distance matrix, and the whole path on the
synthetic ccvid layout (rename -> rearrange -> probe/gallery -> train -> evaluate)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import read_scalars, run_script, write_config
from opengait_ccvid.ccvid_metrics import evaluate_settings

# gallery: pid, camera, clothes
GALLERY = [("A", 1, "a1"), ("A", 2, "a1"), ("A", 3, "a2"), ("B", 2, "b1"), ("B", 1, "b2"), ("C", 2, "c1")]
QUERIES = [("A", 1, "a1"), ("B", 3, "b1"), ("C", 1, "c1")]
DIST = np.array([[0.1, 0.5, 0.9, 0.3, 0.7, 1.0],
                 [0.8, 0.6, 0.4, 0.2, 0.9, 1.0],
                 [0.5, 0.5, 0.5, 0.5, 0.5, 0.1]])


def test_general_and_clothes_changing_metrics_by_hand():
    q, g = list(zip(*QUERIES)), list(zip(*GALLERY))
    summary, per_query = evaluate_settings(DIST, *q, *g)
    # Query A/cam1/a1: general ignores g0 (same camera); true matches g1, g2 at kept ranks 2, 4
    #   -> AP (1/2 + 2/4)/2 = 0.5, INP 2/4. CC also ignores g1 (same clothes): g2 at rank 3.
    # Query B/cam3/b1: general g3 (rank 1) and g4 (rank 5) -> AP (1 + 2/5)/2 = 0.7, INP 2/5;
    #   CC ignores g3 (same clothes): g4 at rank 4 -> AP 1/4.
    # Query C/cam1/c1: its only match g5 wears the same clothes: a hit in general, no match in CC.
    assert [r.first_hit for r in per_query["general"]] == [1, 0, 0]
    assert [r.ap for r in per_query["general"]] == pytest.approx([0.5, 0.7, 1.0])
    assert [r.first_hit for r in per_query["cc"]] == [2, 3, None]
    assert [r.ap for r in per_query["cc"]] == pytest.approx([1 / 3, 1 / 4, None])
    gen, cc = summary["general"], summary["cc"]
    assert gen["queries"] == 3 and gen["rank1"] == pytest.approx(2 / 3) and gen["rank5"] == 1.0
    assert gen["mAP"] == pytest.approx((0.5 + 0.7 + 1.0) / 3)
    assert gen["mINP"] == pytest.approx((0.5 + 0.4 + 1.0) / 3)
    assert cc["queries"] == 2 and cc["queries_without_match"] == 1
    assert cc["rank1"] == 0.0 and cc["rank5"] == 1.0
    assert cc["mAP"] == pytest.approx((1 / 3 + 1 / 4) / 2) and cc["mINP"] == pytest.approx((1 / 3 + 1 / 4) / 2)


@pytest.mark.slow
def test_full_ccvid_path_on_synthetic_data(tmp_path):
    raw, work = tmp_path / "raw", tmp_path / "work"
    run_script("datasets_preprocess/synthetic/make_synthetic_gait.py", "--layout", "ccvid", "--out", raw,
               "--subjects", "6", "--frames", "10", "--views", "000,090")
    run_script("datasets_preprocess/ccvid/rename_ids.py", "--src", raw, "--out", work)
    run_script("datasets_preprocess/ccvid/rearrange_to_grew.py", "--src", raw, "--out", work,
               "--sils-from", raw / "masks", "--pose-from", raw / "poses")
    run_script("datasets_preprocess/ccvid/make_probe_gallery.py", "--out", work)
    model = {"model": "HybridGait", "Backbone": {"blocks": [1, 1, 1, 1], "C": 0.25}, "bin_num": [8],
             "pose_channels": [8, 16], "num_heads": 2, "head_dim": 8}
    cfg = tmp_path / "ccvid.yaml"
    write_config(cfg, work, model, data_cfg={"dataset_name": "synthetic_ccvid"},
                 evaluator_cfg={"eval_func": "evaluate_ccvid"})
    cfg.write_text(cfg.read_text().replace("casia_b.json", "ccvid.json"))
    run_script("opengait_ccvid/main.py", "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out")
    result = run_script("opengait_ccvid/main.py", "--cfgs", cfg, "--phase", "test", "--output_root", tmp_path / "out")
    run = tmp_path / "out" / "synthetic_ccvid" / "HybridGait" / "test_run"
    record = json.loads((run / "eval" / "00006.json").read_text())["results"]
    for setting in ("general", "cc"):
        for name in ("rank1", "rank5", "rank10", "rank20", "mAP", "mINP"):
            assert 0.0 <= record[f"test/ccvid_{setting}/{name}"] <= 1.0
    assert "general" in result.stderr and "cc " in result.stderr
    part = json.loads((work / "ccvid.json").read_text())
    rows = list(csv.DictReader((run / "eval" / "ccvid_per_query.csv").open()))
    assert [r["query"] for r in rows] == part["PROBE_SET"]
    assert all(r["clothes"] == part["SEQUENCE_INFO"][r["query"]]["clothes"] for r in rows)
    scalars = read_scalars(run / "summary")
    assert scalars["test/ccvid_cc/mAP"][6] == pytest.approx(record["test/ccvid_cc/mAP"])
    wrong = run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "test",
                       "--output_root", tmp_path / "out", check=False)
    assert wrong.returncode == 2 and "'evaluate_ccvid' lives in a plugin" in wrong.stderr


def test_a_missing_query_is_a_miss_in_both_settings(tmp_path):
    """evaluate_ccvid on hand-made features: query C (in PROBE_SET, no features) counts as a miss
    wherever the gallery holds a true match for it (general: g5; CC: none, so it is left out)."""
    from types import SimpleNamespace
    from opengait_ccvid.ccvid_evaluator import evaluate_ccvid
    keys_g = [f"{p}/s_{c}/{cam:02d}" for p, cam, c in GALLERY]
    keys_q = [f"{p}/q_{c}/{cam:02d}" for p, cam, c in QUERIES]
    info = {k: {"camera": cam, "clothes": c} for k, (p, cam, c) in zip(keys_g + keys_q, GALLERY + QUERIES)}
    # Features on a line: the A query sits on g1 and the B query on g3.
    feats = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 20.0, 1.0, 10.0], np.float32)[:, None, None]
    rows = keys_g + keys_q[:2]
    seqs = [SimpleNamespace(key=k, subject=k.split("/")[0]) for k in rows]
    part = {"PROBE_SET": keys_q, "GALLERY_SET": keys_g, "SEQUENCE_INFO": info}
    cfg = {"evaluator_cfg": {"metric": "euc"}, "data_cfg": {"dataset_name": "ccvid"}}
    result = evaluate_ccvid(feats, SimpleNamespace(sequences=seqs, partition=part), cfg, tmp_path)
    assert result.coverage == {"queries": (2, 3)}
    # general: A (feature 1.0) -> g1 (A, cam 2) first: hit; B (10.0) -> g3 (B, cam 2) first: hit;
    # C missing but has a true match (g5): a miss -> rank-1 2/3.
    assert result.metrics["test/ccvid_general/rank1"] == pytest.approx(2 / 3)
    # CC: C's only match wears its clothes, so C has no true match and is not counted. A: g0
    # (same camera) and g1 (same clothes) are ignored, g2 (2.0) comes first: a hit. B: g3 (same
    # clothes) is ignored, g4 (11.0) comes first: a hit.
    assert result.metrics["test/ccvid_cc/rank1"] == pytest.approx(1.0)
    rows_csv = list(csv.DictReader((tmp_path / "eval" / "ccvid_per_query.csv").open()))
    assert [r["query"] for r in rows_csv] == keys_q and rows_csv[2]["general_first_hit_rank"] == "missing"
