"""Real-scene protocols: GREW (local evaluation and the challenge submission), Gait3D and your
own data (``evaluate_custom``).

- ``evaluate_real_scene`` (alias ``evaluate_grew``): probe types against gallery types by the
  test dataset name, as OpenGait defines them (GREW: gallery 01 vs probe 02; also 0001-1000,
  HID2021, 0001-1000-test, TTG-200); rank-1/5/10/20 over every expected probe.
- ``grew_submission`` (alias ``GREW_submission``): ``GREW_result/<time>.csv`` with
  ``videoId,rank1..rank20`` for every probe/03 folder of the raw test set (the partition's
  TEST_SEQUENCES); a probe without features gets the 20 most frequent gallery ids and is
  counted in a warning.
- ``evaluate_Gait3D``: the partition's PROBE_SET against every other test sequence; rank-1/5/10,
  mAP and mINP over the probes with a true match (Gait3D's and OpenGait's rule).
- ``evaluate_custom``: ``probe_types`` against ``gallery_types`` (datasets_preprocess/custom/).
"""
from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path

import numpy as np

from gaitcore.errors import ConfigError
from opengait.evaluation.distance import pairwise_distance, topk_indices
from opengait.evaluation.evaluators import (Evaluation, as_array, expected_test_keys,
                                            identity_notes, register_evaluator, sequence_keys,
                                            split_key)
from opengait.evaluation.retrieval import missing_query, rank_with_masks, summarise
from opengait.settings import Settings
from gaitcore.atomic_files import atomic_open

# dataset -> (gallery types, probe types), as OpenGait's real-scene evaluation defines them.
REAL_SCENE = {"GREW": (("01",), ("02",)), "0001-1000": (("1", "2"), ("3", "4", "5", "6")),
              "HID2021": (("0",), ("1",)), "0001-1000-test": (("0",), ("1",)),
              "TTG-200": (("1",), ("2", "3", "4", "5", "6"))}
CMC_RANKS = (1, 5, 10, 20)


def cmc_ranks(probe_ids: np.ndarray, ranked_ids: np.ndarray, ranks=CMC_RANKS,
              expected: int | None = None) -> dict:
    """Share of the ``expected`` probes (default: the rows given) whose id appears within the
    first r ranked gallery ids; probes beyond the rows given are misses."""
    hit = ranked_ids == probe_ids[:, None]
    first = np.where(hit.any(1), hit.argmax(1), np.iinfo(np.int64).max)
    total = len(probe_ids) if expected is None else expected
    return {f"Rank-{r}": float(np.sum(first < r) / total) if total else float("nan") for r in ranks}


def _check_real_scene(settings: Settings) -> None:
    name = settings.data.test_dataset
    if name not in REAL_SCENE:
        raise ConfigError(f"evaluate_real_scene: no protocol for dataset {name!r} "
                          f"(data_cfg.test_dataset_name, else dataset_name; known: {', '.join(REAL_SCENE)})")


def real_scene(features, dataset, settings: Settings, gallery_types, probe_types, name: str) -> Evaluation:
    seqs = dataset.sequences
    types, ids = as_array(s.type for s in seqs), as_array(s.subject for s in seqs)
    gallery, probe = np.isin(types, gallery_types), np.isin(types, probe_types)
    expected = expected_test_keys(dataset)
    n_expected = (int(probe.sum()) if expected is None
                  else sum(1 for k in expected if split_key(k)[1] in probe_types))
    result = Evaluation({}, coverage={"probes": (int(probe.sum()), n_expected)})
    result.notes += identity_notes(name, ids[probe], ids[gallery])
    if not gallery.any() or not n_expected:
        raise ConfigError(f"{name}: needs test sequences of type {'/'.join(gallery_types)} (gallery) "
                          f"and {'/'.join(probe_types)} (probe)")
    top = topk_indices(features[probe], features[gallery], max(CMC_RANKS),
                       settings.evaluator.metric)
    result.metrics = cmc_ranks(ids[probe], ids[gallery][top], expected=n_expected)
    result.text = f"{name} ({'/'.join(gallery_types)} gallery vs {'/'.join(probe_types)} probe): " + \
        ", ".join(f"{k} {100 * v:.2f}%" for k, v in result.metrics.items())
    return result


@register_evaluator("evaluate_real_scene", check=_check_real_scene)
def evaluate_real_scene(features: np.ndarray, dataset, settings: Settings, out_dir: Path) -> Evaluation:
    name = settings.data.test_dataset
    gallery_types, probe_types = REAL_SCENE[name]
    return real_scene(features, dataset, settings, gallery_types, probe_types, name)


@register_evaluator("evaluate_grew")
def evaluate_grew(features: np.ndarray, dataset, settings: Settings, out_dir: Path) -> Evaluation:
    """GREW's local evaluation whatever the dataset is called: gallery 01 vs probe 02."""
    return real_scene(features, dataset, settings, *REAL_SCENE["GREW"], "GREW")


def _grew_submission_preflight(dataset, settings: Settings) -> None:
    """GREW's layout before any feature: gallery types 01/02 and probes of type 03."""
    types = {s.type for s in dataset.sequences}
    expected = expected_test_keys(dataset)
    probes = ({split_key(k)[1] for k in expected} if expected is not None else types) & {"03"}
    if not types & {"01", "02"}:
        raise ConfigError(f"grew_submission: the test set has no gallery sequences of types 01/02 (it has "
                          f"types {', '.join(sorted(types)[:6])}); GREW's layout is <id>/01|02/<seq> and "
                          "probe/03/<seq> (datasets_preprocess/grew/)")
    if not probes:
        raise ConfigError("grew_submission: no probe sequences (type 03) expected or found in the test set")


@register_evaluator("grew_submission", "GREW_submission", preflight=_grew_submission_preflight)
def grew_submission(features: np.ndarray, dataset, settings: Settings, out_dir: Path) -> Evaluation:
    """The GREW challenge file (module docstring)."""
    seqs = dataset.sequences
    types = as_array(s.type for s in seqs)
    gallery, probe = np.isin(types, ["01", "02"]), types == "03"
    if not gallery.any():
        raise ConfigError("grew_submission: needs gallery sequences (types 01/02)")
    g_ids = as_array(s.subject for s in seqs)[gallery]
    rows: dict[str, list[str]] = {}
    if probe.any():
        top = topk_indices(features[probe], features[gallery], 20, settings.evaluator.metric)
        for s, ranked in zip([s for s, p in zip(seqs, probe) if p], g_ids[top]):
            rows[s.view] = [_grew_id(x) for x in ranked]
    expected = expected_test_keys(dataset)
    names = ([split_key(k)[2] for k in expected if split_key(k)[1] == "03"] if expected is not None
             else list(rows))
    fallback = [_grew_id(i) for i, _ in Counter(g_ids.tolist()).most_common(20)]
    result = Evaluation({}, coverage={"probes": (sum(n in rows for n in names), len(names))})
    filled = [n for n in names if n not in rows]
    if filled:
        result.notes.append(f"{len(filled)} probe(s) without features (e.g. {filled[0]}) get the "
                            "20 most frequent gallery ids")
    if not names:
        raise ConfigError("grew_submission: no probe sequences (type 03) expected or found")
    if gallery.sum() < 20:
        result.notes.append(f"the gallery has {int(gallery.sum())} sequences, fewer than the 20 "
                            "ranks of the GREW submission format: rows list only those")
    path = Path(out_dir) / "GREW_result" / f"{time.strftime('%Y-%m%d-%H%M%S')}.csv"
    with atomic_open(path, "w") as f:
        writer = csv.writer(f)
        writer.writerow(["videoId"] + [f"rank{i}" for i in range(1, 21)])
        for name in names:
            writer.writerow([name] + rows.get(name, fallback))
    result.text = f"GREW submission: {len(names)} probes -> {path}"
    return result


def _grew_id(x) -> str:
    return str(int(x)) if str(x).isdigit() else str(x)


def retrieval(features: np.ndarray, ids: np.ndarray, probe: np.ndarray, gallery: np.ndarray,
              expected_probes: list[tuple[str, str | None]], views: np.ndarray | None, metric: str,
              ranks) -> dict:
    """Rank-k / mAP / mINP of the probes against the gallery; expected ``(id, view)`` probes
    without features are misses. With ``views``, gallery entries seen from the probe's view are
    ignored (a cross-view test)."""
    dist = (pairwise_distance(features[probe], features[gallery], metric)
            if probe.any() and gallery.any() else np.zeros((int(probe.sum()), int(gallery.sum()))))
    g_ids = ids[gallery]

    def junk_for(view) -> np.ndarray:
        return views[gallery] == view if views is not None else np.zeros(len(g_ids), bool)
    results, have = [], Counter()
    for row, index in enumerate(np.flatnonzero(probe)):
        view = None if views is None else views[index]
        junk = junk_for(view)
        results.append(rank_with_masks(dist[row], (g_ids == ids[index]) & ~junk, junk))
        have[(ids[index], view)] += 1
    for sid, view in expected_probes:
        view = None if views is None else view
        if have[(sid, view)] > 0:
            have[(sid, view)] -= 1
            continue
        results.append(missing_query((g_ids == sid) & ~junk_for(view)))
    return summarise(results, ranks)


@register_evaluator("evaluate_Gait3D")
def evaluate_gait3d(features: np.ndarray, dataset, settings: Settings, out_dir: Path) -> Evaluation:
    """Gait3D: the partition's PROBE_SET (keys ``id-type-view`` as OpenGait's Gait3D.json writes
    them, or ``id/type/view``) against all other test sequences."""
    probe_set = (dataset.partition or {}).get("PROBE_SET")
    if not probe_set:
        raise ConfigError("evaluate_Gait3D: the partition has no PROBE_SET (Gait3D.json lists the "
                          "probe sequences as id-type-view)")
    seqs = dataset.sequences
    wanted = {k.replace("-", "/", 2) if "/" not in k else k for k in probe_set}
    keys = sequence_keys(seqs)
    probe = np.array([k in wanted for k in keys], bool)
    ids = as_array(s.subject for s in seqs)
    expected = [(split_key(k)[0], None) for k in sorted(wanted)]
    out = retrieval(features, ids, probe, ~probe, expected, None,
                    settings.evaluator.metric, (1, 5, 10))
    result = Evaluation({"Rank-1": out["rank1"], "Rank-5": out["rank5"], "Rank-10": out["rank10"],
                         "mAP": out["mAP"], "mINP": out["mINP"]},
                        coverage={"probes": (int(probe.sum()), len(wanted))})
    result.notes += identity_notes("Gait3D", ids[probe], ids[~probe])
    if out["queries_without_match"]:
        result.notes.append(f"{out['queries_without_match']} probe(s) have no true match in the "
                            "gallery and are left out of the averages (Gait3D's rule)")
    return result


def _check_custom(settings: Settings) -> None:
    ecfg = settings.evaluator
    if not ecfg.probe_types or not ecfg.gallery_types:
        raise ConfigError("evaluate_custom needs evaluator_cfg.probe_types and evaluator_cfg.gallery_types "
                          "(lists of sequence types, e.g. [walk-02] and [walk-01])")


@register_evaluator("evaluate_custom", check=_check_custom)
def evaluate_custom(features: np.ndarray, dataset, settings: Settings, out_dir: Path) -> Evaluation:
    """Your own dataset (datasets_preprocess/custom/): ``evaluator_cfg.probe_types`` against
    ``evaluator_cfg.gallery_types`` (lists of sequence types), optional ``exclude_same_view``."""
    ecfg = settings.evaluator
    seqs = dataset.sequences
    return custom_retrieval(features, [s.subject for s in seqs], [s.type for s in seqs],
                            [s.view for s in seqs], ecfg.probe_types, ecfg.gallery_types,
                            ecfg.exclude_same_view, ecfg.metric,
                            expected=expected_test_keys(dataset))


def custom_retrieval(features: np.ndarray, ids, types, views, probe_types, gallery_types,
                     exclude_same_view: bool = False, metric: str = "euc", ranks=(1, 5, 10),
                     expected: list[str] | None = None) -> Evaluation:
    """Probes (sequences of ``probe_types``) against the gallery (``gallery_types``): rank-k and
    mAP by sequence; with ``exclude_same_view`` gallery entries seen from the probe's view are
    ignored."""
    ids, types, views = (np.asarray(a) for a in (ids, types, views))
    probe, gallery = np.isin(types, list(probe_types)), np.isin(types, list(gallery_types))
    if not gallery.any() or not (probe.any() or expected):
        raise ConfigError(f"evaluate_custom: no probe sequences of types {list(probe_types)} or no gallery "
                          f"sequences of types {list(gallery_types)} in the test set (types there: "
                          f"{sorted(set(types.tolist()))})")
    expected_probes = (list(zip(ids[probe].tolist(), views[probe].tolist())) if expected is None else
                       [(s, v) for s, t, v in map(split_key, expected) if t in set(probe_types)])
    out = retrieval(features, ids, probe, gallery, expected_probes,
                    views if exclude_same_view else None, metric, ranks)
    result = Evaluation({k: v for k, v in out.items() if k.startswith(("rank", "mAP"))},
                        coverage={"probes": (int(probe.sum()), len(expected_probes))})
    result.notes += identity_notes("custom", ids[probe], ids[gallery])
    result.text = (f"custom ({out['queries']} probes with a match, {out['queries_without_match']} "
                   "without): " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in result.metrics.items()))
    return result

