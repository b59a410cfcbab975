"""Evaluation protocols on hand-made features whose answers are worked out by hand."""
from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np
import pytest

from opengait.config import ConfigError, settings_from_dict
from opengait.evaluation.evaluators import check_evaluator_config, get_evaluator
from opengait.evaluation.real_scene import cmc_ranks, custom_retrieval


def dataset(rows, partition=None):
    seqs = [SimpleNamespace(subject=s, type=t, view=v, key=f"{s}/{t}/{v}") for s, t, v in rows]
    return SimpleNamespace(sequences=seqs, partition=partition or {})


def cfg(eval_func, dataset_name="CASIA-B", data=None, **evaluator):
    """The settings of a test of ``eval_func`` (every check of load_config run)."""
    return settings_from_dict({"data_cfg": {"dataset_name": dataset_name, **(data or {})},
                               "evaluator_cfg": {"eval_func": eval_func, "metric": "euc", **evaluator}})


def run(eval_func, feats, ds, tmp_path=None, **kw):
    return get_evaluator(eval_func)(np.asarray(feats, np.float32), ds, cfg(eval_func, **kw), tmp_path)


def casia_features():
    """Two subjects, views 000/090. Probes look like the OTHER subject from the same view and
    like themselves across views: only identical-view exclusion gives 100%."""
    rows, feats = [], []
    centre = {("001", "000"): [0, 0], ("002", "000"): [0, 1], ("001", "090"): [10, 1], ("002", "090"): [10, 0]}
    for sid in ("001", "002"):
        for view in ("000", "090"):
            for typ in ("nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "cl-01"):
                x, y = centre[(sid, view)]
                if typ in ("nm-05", "nm-06", "bg-01", "cl-01"):
                    other = "002" if sid == "001" else "001"
                    x = 10 - centre[(other, view)][0]          # = its own centre at the other view
                    y = centre[(sid, "090" if view == "000" else "000")][1]
                rows.append((sid, typ, view))
                feats.append([[x], [y]])
    return np.asarray(feats, np.float32), rows


def test_casia_b_excludes_identical_views_and_counts_probes():
    feats, rows = casia_features()
    result = run("evaluate_indoor_dataset", feats, dataset(rows))
    assert result.metrics == {"NM": 1.0, "BG": 1.0, "CL": 1.0}
    assert result.coverage == {"NM": (8, 8), "BG": (4, 4), "CL": (4, 4)}
    assert result.text.splitlines() == [
        "rank-1 (%) per probe view, identical view excluded", "probe | 000 | 090 | mean", "-" * 24,
        "NM    | 100.0 | 100.0 | 100.0", "BG    | 100.0 | 100.0 | 100.0", "CL    | 100.0 | 100.0 | 100.0"]
    # Same answers under the CASIA-B-only name, on a dataset called something else.
    assert run("evaluate_casia_b", feats, dataset(rows), dataset_name="synthetic").metrics["CL"] == 1.0


def test_a_missing_probe_is_a_miss_not_absent():
    feats, rows = casia_features()
    expected = sorted(f"{s}/{t}/{v}" for s, t, v in rows)      # every sequence is expected
    keep = [i for i, r in enumerate(rows) if r != ("001", "bg-01", "000")]
    result = run("evaluate_indoor_dataset", feats[keep], dataset([rows[i] for i in keep],
                                                                {"TEST_SEQUENCES": expected}))
    # BG probe view 000 expects 2 probes, 1 left (a hit): 1/2 there, 1 at view 090 -> 0.75.
    assert result.metrics["BG"] == pytest.approx(0.75)
    assert result.coverage["BG"] == (3, 4) and result.metrics["NM"] == 1.0
    assert "1 missing, counted as misses" in " ".join(result.coverage_lines())


def test_a_single_identity_test_set_says_so():
    feats, rows = casia_features()
    keep = [i for i, r in enumerate(rows) if r[0] == "001"]
    result = run("evaluate_indoor_dataset", feats[keep], dataset([rows[i] for i in keep]))
    assert result.metrics["NM"] == 1.0
    assert any("single identity" in n for n in result.notes)


def test_oumvlp_and_casia_e_protocols():
    # OU-MVLP: probe 00 vs gallery 01. Two ids, views 000/030; probe A at 030 is nearer B at 000.
    rows = [("A", "01", "000"), ("B", "01", "000"), ("A", "01", "030"), ("B", "01", "030"),
            ("A", "00", "000"), ("B", "00", "000"), ("A", "00", "030"), ("B", "00", "030")]
    feats = [[[0.0]], [[10.0]], [[1.0]], [[11.0]], [[1.2]], [[10.9]], [[9.0]], [[9.8]]]
    # probe A@000 (1.2) vs gallery 030: A 1.0 -> hit; B@000 (10.9) vs 030: B 11.0 -> hit;
    # A@030 (9.0) vs gallery 000: B 10.0 nearer than A 0.0 -> miss; B@030 (9.8) vs 000: B -> hit.
    result = run("evaluate_indoor_dataset", feats, dataset(rows), dataset_name="OUMVLP")
    assert result.metrics == {"NM": pytest.approx((1.0 + 0.5) / 2)}
    # CASIA-E: view 270 is left out of the protocol.
    e_rows = [("A", "H-scene1-nm-1", "000"), ("B", "H-scene1-nm-1", "000"),
              ("A", "H-scene1-nm-1", "270"), ("B", "H-scene1-nm-1", "270"),
              ("A", "H-scene2-nm-1", "090"), ("B", "H-scene2-nm-1", "090"),
              ("A", "H-scene2-nm-1", "270"), ("B", "H-scene2-nm-1", "270"),
              ("A", "H-scene1-nm-1", "090"), ("B", "H-scene1-nm-1", "090")]
    e_feats = [[[0.0]], [[10.0]], [[0.0]], [[10.0]], [[0.5]], [[9.5]], [[9.0]], [[1.0]],
               [[0.0]], [[10.0]]]                                  # 270 probes all wrong
    result = run("evaluate_indoor_dataset", e_feats, dataset(e_rows), dataset_name="CASIA-E")
    assert result.metrics["NM"] == 1.0 and result.coverage["NM"] == (2, 2)


def test_sustech1k_matches_types_by_substring_and_reports_rank5():
    rows = [("A", "00-nm", "000"), ("B", "00-nm", "000"), ("C", "00-nm", "000"),
            ("A", "00-nm", "090"), ("B", "00-nm", "090"), ("C", "00-nm", "090"),
            ("A", "01-nm", "000"), ("B", "02-bg", "000"), ("C", "01-nm", "090")]
    feats = [[[0.0]], [[5.0]], [[9.0]], [[0.0]], [[5.0]], [[9.0]],
             [[4.9]], [[5.1]], [[8.0]]]
    # Normal (01-nm): A@000 (4.9) vs gallery 090 -> B first, A second (rank-1 miss, rank-2 hit);
    # C@090 (8.0) vs gallery 000 -> C first. Bag (bg): B@000 (5.1) vs 090 -> B first.
    result = run("evaluate_indoor_dataset", feats, dataset(rows), dataset_name="SUSTech1K")
    assert result.metrics["Normal@R1"] == pytest.approx(0.5)
    assert result.metrics["Normal@R5"] == 1.0 and result.metrics["Bag@R1"] == 1.0
    # Overall ("01", "02", ... in the type) covers all three probes.
    assert result.coverage["Overall"] == (3, 3)


def test_cross_view_gallery_rank1_and_map_by_hand():
    # Probe nm-01 of A at 000; gallery (nm-02/bg-02/cl-02): A@000 (same id and view: ignored),
    # B@000 nearest, A@090 second -> rank-1 miss, AP 1/2.
    # Probe of B at 000: gallery B@090 nearest -> hit, AP 1.
    rows = [("A", "nm-01", "000"), ("B", "nm-01", "000"),
            ("A", "nm-02", "000"), ("B", "bg-02", "000"), ("A", "cl-02", "090"), ("B", "nm-02", "090")]
    feats = [[[0.0]], [[20.0]], [[0.0]], [[1.0]], [[2.0]], [[19.0]]]
    result = run("evaluate_indoor_dataset", feats, dataset(rows), cross_view_gallery=True)
    assert result.metrics["NM-Rank@1"] == pytest.approx(0.5)
    assert result.metrics["NM-mAP"] == pytest.approx((0.5 + 1.0) / 2)
    assert "BG-Rank@1" not in result.metrics and any("BG: no probe" in n for n in result.notes)


def test_ccpg_settings_gait_and_reid_views():
    # CL: probes U0_D0 vs gallery U1_D1 / U2_D2 / U3_D3. Views "01_x", "02_x" (camera 01, 02).
    rows = [("A", "U1_D1", "01_a"), ("B", "U1_D1", "01_a"), ("A", "U2_D2", "02_b"),
            ("B", "U2_D2", "02_b"), ("A", "U0_D0", "01_c"), ("B", "U0_D0", "02_d")]
    feats = [[[0.0]], [[10.0]], [[1.0]], [[11.0]], [[9.0]], [[10.5]]]
    # Gait view pairs (identical camera excluded): A@01 vs gallery 02: B(11) nearer than A(1)? |9-11|=2 < 8 -> miss.
    # B@02 vs gallery 01: B(10) -> hit. Mean 0.5.
    # Re-id: A@01 ranks B@01(1) B@02(2) A@01 ignored (same id+camera), A@02(8) -> first hit 3rd, AP 1/3.
    # B@02 ranks B@01 (0.5) first (B@02 ignored) -> AP 1.
    result = run("evaluate_CCPG", feats, dataset(rows), dataset_name="CCPG")
    assert result.metrics["CL"] == pytest.approx(0.5)
    assert result.metrics["CL-reid-Rank@1"] == pytest.approx(0.5)
    assert result.metrics["CL-mAP"] == pytest.approx((1 / 3 + 1.0) / 2)
    assert set(result.coverage) == {"CL"}


def test_gait3d_probe_set_against_the_rest():
    rows = [("0001", "cam1", "s1"), ("0002", "cam1", "s2"), ("0001", "cam2", "s3"),
            ("0002", "cam2", "s4"), ("0003", "cam3", "s5")]
    feats = [[[0.0]], [[10.0]], [[1.0]], [[9.0]], [[0.5]]]
    part = {"PROBE_SET": ["0001-cam1-s1", "0002-cam1-s2"]}
    # 0001@0: gallery 0003(0.5) 0001(1) 0002(9) -> first hit 2nd, AP 1/2; 0002@10: 0002(9) first.
    result = run("evaluate_Gait3D", feats, dataset(rows, part), dataset_name="Gait3D")
    assert result.metrics["Rank-1"] == 0.5 and result.metrics["Rank-5"] == 1.0
    assert result.metrics["mAP"] == pytest.approx(0.75) and result.coverage == {"probes": (2, 2)}


def test_grew_local_evaluation_and_submission_with_a_missing_probe(tmp_path):
    rows = [("00001", "01", "a"), ("00002", "01", "b"), ("00002", "01", "c"),
            ("00001", "02", "d"), ("probe", "03", "xYz1")]
    feats = [[[0.0]], [[5.0]], [[5.5]], [[0.2]], [[4.0]]]
    part = {"TEST_SEQUENCES": ["00001/01/a", "00002/01/b", "00002/01/c", "00001/02/d",
                               "00002/02/e", "probe/03/xYz1", "probe/03/gone"]}
    result = run("evaluate_real_scene", feats, dataset(rows, part), dataset_name="GREW")
    assert result.metrics["Rank-1"] == 0.5 and result.coverage == {"probes": (1, 2)}
    sub = run("grew_submission", feats, dataset(rows, part), tmp_path, dataset_name="GREW")
    table = list(csv.reader(next((tmp_path / "GREW_result").glob("*.csv")).open()))
    assert table[0][:2] == ["videoId", "rank1"] and len(table[0]) == 21
    assert [r[0] for r in table[1:]] == ["xYz1", "gone"]
    assert table[1][1:4] == ["2", "2", "1"]                       # nearest: 5.0, 5.5, 0.0
    assert table[2][1:3] == ["1", "2"]            # most frequent gallery ids (2 each: first seen first)
    assert sub.coverage == {"probes": (1, 2)} and "1 probe(s) without features" in sub.notes[0]


def test_cmc_ranks_by_hand():
    probe_ids = np.array(["1", "2", "3"])
    ranked = np.array([["1", "5", "6"], ["7", "2", "8"], ["9", "9", "9"]])
    assert cmc_ranks(probe_ids, ranked, ranks=(1, 2, 3)) == {"Rank-1": 1 / 3, "Rank-2": 2 / 3, "Rank-3": 2 / 3}
    assert cmc_ranks(probe_ids, ranked, ranks=(1,), expected=4) == {"Rank-1": 1 / 4}


def test_custom_retrieval_against_hand_computed_ranks():
    # One channel, one part: embeddings are points on a line.
    feats = np.array([0.0, 10.0, 0.1, 0.05, 5.0], np.float32)[:, None, None]
    ids = ["A", "B", "A", "B", "A"]
    types = ["probe", "probe", "gal", "gal", "gal"]
    views = ["090", "090", "090", "000", "000"]
    out = custom_retrieval(feats, ids, types, views, ["probe"], ["gal"]).metrics
    # A at 0: order B(0.05) A(0.1) A(5) -> first hit rank 2, AP (1/2 + 2/3) / 2.
    # B at 10: order A(5) A(0.1) B(0.05) -> first hit rank 3, AP 1/3.
    assert out["rank1"] == 0.0 and out["rank5"] == 1.0
    assert out["mAP"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1 / 3) / 2)
    # With exclude_same_view every gallery entry seen from the probe's view (090) is ignored, here
    # A at 0.1: A keeps B(0.05) A(5) -> AP 1/2; B keeps A(5) B(0.05) -> AP 1/2.
    excl = custom_retrieval(feats, ids, types, views, ["probe"], ["gal"], exclude_same_view=True).metrics
    assert excl["rank1"] == 0.0 and excl["rank5"] == 1.0 and excl["mAP"] == pytest.approx(0.5)
    # A third probe that was expected but has no features: a miss with AP 0.
    missing = custom_retrieval(feats, ids, types, views, ["probe"], ["gal"],
                               expected=["A/probe/090", "B/probe/090", "B/probe/000"])
    assert missing.coverage == {"probes": (2, 3)}
    assert missing.metrics["mAP"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1 / 3) / 3)


def test_evaluator_settings_are_checked_at_config_load():
    """(cfg() runs load_config's checks, which call check_evaluator_config; it runs once more
    on settings that passed.)"""
    check_evaluator_config(cfg("evaluate_indoor_dataset", "OUMVLP"))
    with pytest.raises(ConfigError, match="no single-view gallery protocol for dataset 'GREW'"):
        cfg("evaluate_indoor_dataset", "GREW")
    with pytest.raises(ConfigError, match="no cross-view gallery protocol for dataset 'CASIA-E'"):
        cfg("evaluate_indoor_dataset", "CASIA-E", cross_view_gallery=True)
    check_evaluator_config(cfg("evaluate_ccvid"))           # from the installed plugin, unnamed
    with pytest.raises(ConfigError, match="unknown evaluator 'evaluate_nothing'"):
        cfg("evaluate_nothing")
    with pytest.raises(ConfigError, match="no protocol for dataset 'CASIA-B'"):
        cfg("evaluate_real_scene", "CASIA-B")
    with pytest.raises(ConfigError, match="remove_no_gallery: true"):
        cfg("evaluate_casia_b", data={"remove_no_gallery": True})
    named = cfg("evaluate_indoor_dataset", "my-casia", data={"test_dataset_name": "CASIA-B"})
    check_evaluator_config(named)                                # OpenGait's rule: this one wins


def test_view_pair_map_by_hand(tmp_path):
    """evaluator_cfg.view_pair_map: each probe's average precision against one gallery view
    (identical view excluded), averaged like rank-1. Two ids, views 000 and 090; the NM probe of
    id a at 000 ranks its two true gallery entries at 090 first and third: AP (1 + 2/3) / 2."""
    from types import SimpleNamespace
    from opengait.evaluation.indoor import SINGLE_VIEW, TestSet, single_view_gallery
    seqs, feats = [], []

    def add(sid, typ, view, x):
        seqs.append(SimpleNamespace(subject=sid, type=typ, view=view))
        feats.append(np.array([[x]], np.float32))
    # gallery at 090: a(nm-01) 0.0, b(nm-01) 0.5, a(nm-02) 1.0, b(nm-02) 3.0; at 000 the same ids far away
    for sid, typ, x in (("a", "nm-01", 0.0), ("b", "nm-01", 0.5), ("a", "nm-02", 1.0), ("b", "nm-02", 3.0)):
        add(sid, typ, "090", x)
        add(sid, typ, "000", 100.0 + x)
    add("a", "nm-05", "000", 0.1)                 # the probe: nearest a, b, a, b at 090
    dataset = SimpleNamespace(sequences=seqs, partition={})
    result = single_view_gallery(TestSet(np.stack(feats), dataset), SINGLE_VIEW["CASIA-B"], "euc", True)
    assert result.metrics["NM-mAP"] == pytest.approx((1 + 2 / 3) / 2)
    assert result.metrics["NM"] == 1.0
    # ... and one row per probe (the 090 gallery only: its own view is excluded)
    assert result.probes == [{"condition": "NM", "probe": "a/nm-05/000", "rank1": 1.0,
                              "ap": pytest.approx((1 + 2 / 3) / 2)}]
    assert "NM-mAP" not in single_view_gallery(TestSet(np.stack(feats), dataset), SINGLE_VIEW["CASIA-B"],
                                               "euc").metrics


@pytest.mark.slow
@pytest.mark.fault_injection
def test_grew_submission_checks_the_layout_before_any_feature(pretreated_casia, tmp_path):
    """On data without GREW's 01/02 gallery types (a CASIA-B layout) the test phase stops in one
    line before extracting features (no 'features' progress in its log)."""
    from conftest import run_script, write_config
    cfg = write_config(tmp_path / "grew.yaml", pretreated_casia,
                       {"model": "GaitBase", "backbone_cfg": {"channels": [8, 16, 32, 64]},
                        "SeparateFCs": {"in_channels": 64, "out_channels": 32, "parts_num": 8}, "bin_num": [8]},
                       data_cfg={"data_in_use": [False, True, False]},
                       trainer_cfg={"total_iter": 2, "save_iter": 2},
                       evaluator_cfg={"eval_func": "grew_submission"})
    run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out")
    result = run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "test", "--output_root",
                        tmp_path / "out", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "grew_submission: the test set has no gallery sequences of types 01/02" in result.stderr
    assert "features:" not in result.stderr
