"""The CCVID protocol: metrics on a hand-made distance matrix, and the whole path on the
synthetic ccvid layout (rename -> rearrange -> probe/gallery -> train -> evaluate)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import read_scalars, run_script, write_config
from opengait.config import settings_from_dict
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
    assert "general" in result.stderr and "cc " in result.stderr
    part = json.loads((work / "ccvid.json").read_text())
    rows = list(csv.DictReader((run / "eval" / "ccvid_per_query.csv").open()))
    assert [r["query"] for r in rows] == part["PROBE_SET"]
    assert all(r["clothes"] == part["SEQUENCE_INFO"][r["query"]]["clothes"] for r in rows)
    # The summary is the per-query table summed up by hand: rank-k = share of the queries with a
    # true match whose first hit is within k, mAP = their mean AP (written to 4 decimals), mINP =
    # the mean of positives / rank of the last true match (0 for a missing query).
    # (The metrics themselves are checked exactly on hand-made features in the tests above/below.)
    for setting in ("general", "cc"):
        counted = [r for r in rows if int(r[f"{setting}_positives"]) > 0]
        assert counted, setting
        first = [int(r[f"{setting}_first_hit_rank"]) if r[f"{setting}_first_hit_rank"].isdigit()
                 else float("inf") for r in counted]
        for k in (1, 5, 10, 20):
            assert record[f"test/ccvid_{setting}/rank{k}"] == pytest.approx(
                sum(f <= k for f in first) / len(counted), abs=1e-12), (setting, k)
        assert record[f"test/ccvid_{setting}/mAP"] == pytest.approx(
            sum(float(r[f"{setting}_AP"]) for r in counted) / len(counted), abs=1e-4)
        inp = [int(r[f"{setting}_positives"]) / int(r[f"{setting}_last_hit_rank"])
               if r[f"{setting}_last_hit_rank"].isdigit() else 0.0 for r in counted]
        assert record[f"test/ccvid_{setting}/mINP"] == pytest.approx(sum(inp) / len(counted), abs=1e-12)
    scalars = read_scalars(run / "summary")
    assert scalars["test/ccvid_cc/mAP"][6] == pytest.approx(record["test/ccvid_cc/mAP"])
    # opengait's own entry point finds the evaluator too: opengait_ccvid is an installed plugin.
    plain = run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "test",
                       "--output_root", tmp_path / "out")
    again = json.loads((run / "eval" / "00006.json").read_text())["results"]
    assert again == record and "general" in plain.stderr


def test_a_missing_query_is_a_miss_where_it_has_a_true_match(tmp_path):
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
    cfg = settings_from_dict({"evaluator_cfg": {"metric": "euc", "eval_func": "evaluate_ccvid"},
                              "data_cfg": {"dataset_name": "ccvid"}})
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


def test_evaluate_ccvid_every_metric_by_hand(tmp_path):
    """evaluate_ccvid (the evaluator of the CCVID test phase) on hand-made features, every
    reported number worked out by hand. Gallery features on a line: g0..g5 = 0, 1, 2, 10, 11,
    20 (GALLERY above); query A (cam 1, a1) at 7, query B (cam 3, b1) at 10, query C missing.
    A's distances: g3 3, g4 4, g2 5, g1 6, g0 7, g5 13.
      general (g0 ignored: same id and camera): order g3 g4 g2 g1 g5; true matches g2, g1 at
        ranks 3, 4 -> first hit 3, AP (1/3 + 2/4)/2 = 5/12, INP 2/4.
      CC (g1 ignored too: same clothes): order g3 g4 g2 g5; g2 at rank 3 -> AP 1/3, INP 1/3.
    B's distances: g3 0, g4 1, g2 8, g1 9, g0 10, g5 10.
      general: g3, g4 at ranks 1, 2 -> AP 1, INP 1.  CC (g3 ignored): g4 first -> AP 1, INP 1.
    C (no features) has a true match in general (g5): a miss, AP 0, INP 0; in CC its only
    match wears its clothes, so it is not counted.
      general: rank-1 1/3, rank-5 2/3, mAP (5/12 + 1 + 0)/3 = 17/36, mINP (1/2 + 1 + 0)/3 = 1/2
      CC:      rank-1 1/2, rank-5 1,   mAP (1/3 + 1)/2 = 2/3,      mINP 2/3"""
    from types import SimpleNamespace
    from opengait_ccvid.ccvid_evaluator import evaluate_ccvid
    keys_g = [f"{p}/s_{c}/{cam:02d}" for p, cam, c in GALLERY]
    keys_q = [f"{p}/q_{c}/{cam:02d}" for p, cam, c in QUERIES]
    info = {k: {"camera": cam, "clothes": c} for k, (p, cam, c) in zip(keys_g + keys_q, GALLERY + QUERIES)}
    feats = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 20.0, 7.0, 10.0], np.float32)[:, None, None]
    seqs = [SimpleNamespace(key=k, subject=k.split("/")[0]) for k in keys_g + keys_q[:2]]
    part = {"PROBE_SET": keys_q, "GALLERY_SET": keys_g, "SEQUENCE_INFO": info}
    cfg = settings_from_dict({"evaluator_cfg": {"metric": "euc", "eval_func": "evaluate_ccvid"},
                              "data_cfg": {"dataset_name": "ccvid"}})
    m = evaluate_ccvid(feats, SimpleNamespace(sequences=seqs, partition=part), cfg, tmp_path).metrics
    expected = {"general": {"rank1": 1 / 3, "rank5": 2 / 3, "rank10": 2 / 3, "rank20": 2 / 3,
                            "mAP": 17 / 36, "mINP": 1 / 2},
                "cc": {"rank1": 1 / 2, "rank5": 1.0, "rank10": 1.0, "rank20": 1.0,
                       "mAP": 2 / 3, "mINP": 2 / 3}}
    assert m == {f"test/ccvid_{s}/{k}": pytest.approx(v, abs=1e-12)
                 for s, values in expected.items() for k, v in values.items()}
    rows = list(csv.DictReader((tmp_path / "eval" / "ccvid_per_query.csv").open()))
    # Per query and setting: first hit rank, AP, true matches (C in CC: none, so not counted).
    assert [tuple(r[f"{s}_{c}"] for s in ("general", "cc") for c in ("first_hit_rank", "AP", "positives"))
            for r in rows] == [("3", "0.4167", "2", "3", "0.3333", "1"), ("1", "1.0000", "2", "1", "1.0000", "1"),
                               ("missing", "0.0000", "1", "missing", "0.0000", "0")]
