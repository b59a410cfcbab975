"""Indoor, multi-view protocols: CASIA-B, OU-MVLP, CASIA-E, SUSTech1K and CCPG.

``evaluate_indoor_dataset`` (alias ``evaluate_casia_b``) picks the protocol by the test dataset
name as OpenGait does (``data_cfg.test_dataset_name``, else ``dataset_name``):

- **single-view gallery** (default): for each probe condition, probe view and gallery view,
  rank-1 of the probes of that view against the gallery sequences of that view; the mean over
  gallery views other than the probe's (identical view excluded), then over probe views.
- **cross-view gallery** (``evaluator_cfg.cross_view_gallery: true``; CASIA-B and OU-MVLP): the
  gallery holds every view; gallery entries of the probe's identity *and* view are ignored;
  rank-1 and mAP per probe view, averaged over probe views.

``evaluate_CCPG``: CCPG's four clothing settings (CL, UP, DN, BG), each a probe/gallery pair of
clothing types, as the CCPG benchmark and OpenGait define them; reported both as gait rank-1
(view pairs, identical view excluded) and as re-identification rank-1 / mAP / mINP (gallery
entries of the probe's identity and view ignored).

Missing probes (expected by the partition's ``TEST_SEQUENCES`` but without features) count as
misses. Differences from OpenGait: per-view-pair accuracies are not rounded to 0.01% before
averaging, a view pair without gallery is left out of the mean (OpenGait would stop), and a
gallery with fewer than k entries gives rank-k over what there is.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from gaitcore.errors import ConfigError
from opengait.evaluation.distance import pairwise_distance
from opengait.evaluation.evaluators import (Evaluation, as_array, expected_test_keys,
                                            identity_notes, register_evaluator, sequence_keys,
                                            split_key)
from opengait.evaluation.retrieval import missing_query, rank_with_masks, summarise
from opengait.settings import Settings

TypeRule = Callable[[str], bool]


def types_in(*names: str) -> TypeRule:
    return lambda t: t in names


def types_containing(*parts: str) -> TypeRule:
    """SUSTech1K's rule: the type contains one of the strings."""
    return lambda t: any(p in t for p in parts)


@dataclass(frozen=True)
class IndoorProtocol:
    probes: "OrderedDict[str, TypeRule]"     # condition -> which types are its probes
    gallery: TypeRule
    ranks: int = 1                           # rank-k computed (1..ranks)
    excluded_views: tuple[str, ...] = ()


def _casia_e(kind: str) -> tuple[str, ...]:
    return tuple(f"{h}-{scene}-{kind}-{n}" for scene in ("scene2", "scene3", "scene3_s")
                 for h in ("H", "L") for n in (1, 2))


SINGLE_VIEW = {
    "CASIA-B": IndoorProtocol(OrderedDict([("NM", types_in("nm-05", "nm-06")),
                                           ("BG", types_in("bg-01", "bg-02")),
                                           ("CL", types_in("cl-01", "cl-02"))]),
                              types_in("nm-01", "nm-02", "nm-03", "nm-04")),
    "OUMVLP": IndoorProtocol(OrderedDict([("NM", types_in("00"))]), types_in("01")),
    "CASIA-E": IndoorProtocol(OrderedDict([("NM", types_in(*_casia_e("nm"))),
                                           ("BG", types_in(*_casia_e("bg"))),
                                           ("CL", types_in(*_casia_e("cl")))]),
                              types_in("H-scene1-nm-1", "H-scene1-nm-2", "L-scene1-nm-1",
                                       "L-scene1-nm-2"), excluded_views=("270",)),
    "SUSTech1K": IndoorProtocol(OrderedDict([
        ("Normal", types_containing("01-nm")), ("Bag", types_containing("bg")),
        ("Clothing", types_containing("cl")), ("Carrying", types_containing("cr")),
        ("Umberalla", types_containing("ub")), ("Uniform", types_containing("uf")),
        ("Occlusion", types_containing("oc")), ("Night", types_containing("nt")),
        ("Overall", types_containing("01", "02", "03", "04"))]),
        types_containing("00-nm"), ranks=5),
}
CROSS_VIEW = {
    "CASIA-B": IndoorProtocol(OrderedDict([("NM", types_in("nm-01")), ("BG", types_in("bg-01")),
                                           ("CL", types_in("cl-01"))]),
                              types_in("nm-02", "bg-02", "cl-02")),
    "OUMVLP": IndoorProtocol(OrderedDict([("NM", types_in("00"))]), types_in("01")),
}


class TestSet:
    """The evaluated sequences (feature rows) and the expected probe keys, side by side."""

    def __init__(self, features: np.ndarray, dataset, view_of: Callable[[str], str] = str):
        seqs = dataset.sequences
        self.features = features
        self.keys = sequence_keys(seqs)
        self.ids = as_array(s.subject for s in seqs)
        self.types = as_array(s.type for s in seqs)
        self.views = as_array(view_of(s.view) for s in seqs)
        expected = expected_test_keys(dataset)
        self.expected = None if expected is None else [split_key(k) for k in expected]
        self.view_of = view_of

    def view_list(self, excluded=()) -> list[str]:
        views = set(self.views.tolist())
        if self.expected is not None:
            views |= {self.view_of(v) for _, _, v in self.expected}
        return sorted(v for v in views if v not in excluded)

    def probe_mask(self, rule: TypeRule, views: list[str]) -> np.ndarray:
        return np.array([rule(t) for t in self.types.tolist()], bool) & np.isin(self.views, views)

    def expected_probes(self, rule: TypeRule, views: list[str]) -> list[tuple[str, str]]:
        """(id, view) of every expected probe; the evaluated ones when the partition has no
        TEST_SEQUENCES."""
        if self.expected is None:
            mask = self.probe_mask(rule, views)
            return list(zip(self.ids[mask].tolist(), self.views[mask].tolist()))
        return [(sid, self.view_of(v)) for sid, t, v in self.expected
                if rule(t) and self.view_of(v) in views]


def average_precision(dist: np.ndarray, probe_ids: np.ndarray, gallery_ids: np.ndarray) -> np.ndarray:
    """AP of every probe row over the gallery columns: the mean precision at the ranks of its
    true matches (0 for a probe without any)."""
    order = np.argsort(dist, axis=1, kind="stable")
    match = gallery_ids[order] == probe_ids[:, None]
    precision = np.cumsum(match, axis=1) / np.arange(1, match.shape[1] + 1)
    hits = match.sum(1)
    return np.where(hits > 0, (precision * match).sum(1) / np.maximum(hits, 1), 0.0)


def rank_k_by_view_pair(test: TestSet, rule: TypeRule, gallery: np.ndarray, views: list[str],
                        metric: str, ranks: int, with_map: bool = False, per_probe: list | None = None
                        ) -> tuple[np.ndarray, tuple[int, int]] | tuple[np.ndarray, tuple[int, int], np.ndarray]:
    """acc[probe view, gallery view, k-1]: share of the expected probes of the probe view whose
    true identity is within the first k gallery entries of the gallery view (NaN where there is
    no gallery or no expected probe); and (probes evaluated, expected). With ``with_map``, also
    mAP[probe view, gallery view] over the same expected probes (a missing probe counts 0).
    ``per_probe`` (a list) receives one row per evaluated probe: its rank-1 over the gallery
    views other than its own (and its mean AP there with ``with_map``)."""
    probe = test.probe_mask(rule, views)
    expected = test.expected_probes(rule, views)
    acc = np.full((len(views), len(views), ranks), np.nan)
    mean_ap = np.full((len(views), len(views)), np.nan)
    if probe.any() and gallery.any():
        dist = pairwise_distance(test.features[probe], test.features[gallery], metric)
        p_ids, p_views = test.ids[probe], test.views[probe]
        g_ids, g_views = test.ids[gallery], test.views[gallery]
        n_probe = int(probe.sum())
        hits_sum, ap_sum, pairs = np.zeros(n_probe), np.zeros(n_probe), np.zeros(n_probe)
        for i, pv in enumerate(views):
            rows = p_views == pv
            n_expected = sum(1 for _, v in expected if v == pv)
            if n_expected == 0:
                continue
            for j, gv in enumerate(views):
                cols = np.flatnonzero(g_views == gv)
                if cols.size == 0:
                    continue
                block = dist[np.ix_(rows, cols)]
                if ranks == 1:        # the first smallest, as a stable sort's first entry
                    order = np.argmin(block, axis=1)[:, None]
                else:
                    order = np.argsort(block, axis=1, kind="stable")[:, :ranks]
                hit = np.cumsum(g_ids[cols][order] == p_ids[rows][:, None], axis=1) > 0
                if hit.shape[1] < ranks:                      # fewer gallery entries than k
                    hit = np.concatenate([hit, np.repeat(hit[:, -1:], ranks - hit.shape[1], 1)], 1)
                acc[i, j] = hit.sum(0) / n_expected
                if with_map:
                    ap = average_precision(block, p_ids[rows], g_ids[cols])
                    mean_ap[i, j] = ap.sum() / n_expected
                if gv != pv or len(views) == 1:
                    hits_sum[rows] += hit[:, 0]
                    pairs[rows] += 1
                    if with_map:
                        ap_sum[rows] += ap
        if per_probe is not None:
            keys = np.asarray(test.keys, dtype=object)[probe]
            for k in np.flatnonzero(pairs > 0):
                row = {"probe": str(keys[k]), "rank1": float(hits_sum[k] / pairs[k])}
                if with_map:
                    row["ap"] = float(ap_sum[k] / pairs[k])
                per_probe.append(row)
    if with_map:
        return acc, (int(probe.sum()), len(expected)), mean_ap
    return acc, (int(probe.sum()), len(expected))


def exclude_identical_view(acc: np.ndarray) -> np.ndarray:
    """Per probe view: the mean over the other gallery views (NaN-aware)."""
    off = acc.copy()
    if off.shape[0] > 1:
        idx = np.arange(off.shape[0])
        off[idx, idx] = np.nan
    counts = np.isfinite(off).sum(axis=1)
    return np.where(counts > 0, np.nansum(off, axis=1) / np.maximum(counts, 1), np.nan)


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def single_view_gallery(test: TestSet, protocol: IndoorProtocol, metric: str,
                        view_pair_map: bool = False) -> Evaluation:
    views = test.view_list(protocol.excluded_views)
    gallery = np.array([protocol.gallery(t) for t in test.types.tolist()], bool) & np.isin(test.views, views)
    result = Evaluation({})
    result.notes += identity_notes("gallery", [0], test.ids[gallery])
    if len(views) == 1:
        result.notes.append(f"a single view ({views[0]}): identical-view cases are all there is, "
                            "so they are kept")
    g_views = set(test.views[gallery].tolist())
    no_gallery = [v for v in views if v not in g_views]
    if no_gallery and gallery.any():
        result.notes.append(f"no gallery sequences at view(s) {', '.join(no_gallery)}: those view "
                            "pairs are left out of the means")
    tables = {}
    for cond, rule in protocol.probes.items():
        rows: list[dict] = []
        acc, coverage, *maps = rank_k_by_view_pair(test, rule, gallery, views, metric, protocol.ranks,
                                                   view_pair_map, rows)
        result.probes += [{"condition": cond, **row} for row in rows]
        if coverage[1] == 0:
            result.notes.append(f"{cond}: no probe sequences in the test set")
            continue
        result.coverage[cond] = coverage
        for k in (1, 5) if protocol.ranks >= 5 else (1,):
            per_view = exclude_identical_view(acc[..., k - 1])
            name = cond if protocol.ranks == 1 else f"{cond}@R{k}"
            result.metrics[name] = _mean(per_view)
            if k == 1:
                tables[cond] = per_view
        if view_pair_map:
            result.metrics[f"{cond}-mAP"] = _mean(exclude_identical_view(maps[0]))
    result.text = format_view_table(views, tables)
    return result


def cross_view_gallery(test: TestSet, protocol: IndoorProtocol, metric: str) -> Evaluation:
    views = test.view_list(protocol.excluded_views)
    gallery = np.array([protocol.gallery(t) for t in test.types.tolist()], bool)
    result = Evaluation({})
    result.notes += identity_notes("gallery", [0], test.ids[gallery])
    g_ids, g_views = test.ids[gallery], test.views[gallery]
    for cond, rule in protocol.probes.items():
        probe = test.probe_mask(rule, views)
        expected = test.expected_probes(rule, views)
        if not expected:
            result.notes.append(f"{cond}: no probe sequences in the test set")
            continue
        result.coverage[cond] = (int(probe.sum()), len(expected))
        dist = _distances(test, probe, gallery, metric)
        p_ids, p_views = test.ids[probe], test.views[probe]
        acc, ap = [], []
        for view in views:
            rows = np.flatnonzero(p_views == view)
            results = []
            for row in rows:
                junk = (g_ids == p_ids[row]) & (g_views == view)
                results.append(rank_with_masks(dist[row], (g_ids == p_ids[row]) & ~junk, junk))
            for sid, v in _unmatched([e for e in expected if e[1] == view], p_ids[rows], p_views[rows]):
                junk = (g_ids == sid) & (g_views == v)
                results.append(missing_query((g_ids == sid) & ~junk))
            if results:
                # OpenGait: rank-1 over every probe of the view, mAP over those with a match.
                acc.append(np.mean([r.first_hit == 0 for r in results]))
                ap.append(summarise(results, ranks=(1,))["mAP"])
        result.metrics[f"{cond}-Rank@1"] = _mean(np.asarray(acc, float))
        result.metrics[f"{cond}-mAP"] = _mean(np.asarray(ap, float))
    return result


def _distances(test: TestSet, probe: np.ndarray, gallery: np.ndarray, metric: str) -> np.ndarray:
    if probe.any() and gallery.any():
        return pairwise_distance(test.features[probe], test.features[gallery], metric)
    return np.zeros((int(probe.sum()), int(gallery.sum())), np.float32)


def _check_indoor(settings: Settings) -> None:
    name = settings.data.test_dataset
    table = CROSS_VIEW if settings.evaluator.cross_view_gallery else SINGLE_VIEW
    if name not in table:
        kind = "cross-view gallery" if table is CROSS_VIEW else "single-view gallery"
        raise ConfigError(f"evaluate_indoor_dataset: no {kind} protocol for dataset {name!r} "
                          f"(data_cfg.test_dataset_name, else dataset_name; known: "
                          f"{', '.join(table)})")


def format_view_table(views: list[str], tables: dict[str, np.ndarray]) -> str:
    """Rank-1 (%) per probe view, identical view excluded, one row per condition."""
    if not tables:
        return ""
    head = "probe | " + " | ".join(views) + " | mean"
    lines = ["rank-1 (%) per probe view, identical view excluded", head, "-" * len(head)]
    for cond, per_view in tables.items():
        cells = [f"{100 * v:5.1f}" if np.isfinite(v) else "  -  " for v in per_view]
        lines.append(f"{cond:5} | " + " | ".join(cells) + f" | {100 * _mean(per_view):5.1f}")
    return "\n".join(lines)


@register_evaluator("evaluate_indoor_dataset", check=_check_indoor)
def evaluate_indoor_dataset(features: np.ndarray, dataset, settings: Settings, out_dir: Path) -> Evaluation:
    """CASIA-B / OU-MVLP / CASIA-E / SUSTech1K by the test dataset name (module docstring)."""
    name, ecfg = settings.data.test_dataset, settings.evaluator
    test = TestSet(features, dataset)
    if ecfg.cross_view_gallery:
        return cross_view_gallery(test, CROSS_VIEW[name], ecfg.metric)
    result = single_view_gallery(test, SINGLE_VIEW[name], ecfg.metric, ecfg.view_pair_map)
    if not result.coverage:
        raise ConfigError(f"{name}: the test set has no probe sequences of any condition")
    return result


@register_evaluator("evaluate_casia_b")
def evaluate_casia_b(features: np.ndarray, dataset, settings: Settings, out_dir: Path) -> Evaluation:
    """CASIA-B's protocol whatever the dataset is called (e.g. the synthetic CASIA-B layout)."""
    ecfg = settings.evaluator
    test = TestSet(features, dataset)
    table = CROSS_VIEW if ecfg.cross_view_gallery else SINGLE_VIEW
    if table is CROSS_VIEW:
        return cross_view_gallery(test, table["CASIA-B"], ecfg.metric)
    result = single_view_gallery(test, table["CASIA-B"], ecfg.metric, ecfg.view_pair_map)
    if not result.coverage:
        raise ConfigError("evaluate_casia_b: the test set has no probe (nm-05/06, bg-01/02, "
                          "cl-01/02) sequences")
    return result


# --- CCPG ---------------------------------------------------------------------------------

CCPG_SETTINGS = OrderedDict([
    ("CL", (("U0_D0_BG", "U0_D0"), ("U1_D1", "U2_D2", "U3_D3"))),
    ("UP", (("U3_D3",), ("U0_D3",))),
    ("DN", (("U1_D0",), ("U1_D1",))),
    ("BG", (("U0_D0_BG",), ("U0_D0",))),
])


def ccpg_view(view: str) -> str:
    """CCPG views carry a suffix after ``_``; the camera is the part before it."""
    return view.split("_")[0]


@register_evaluator("evaluate_CCPG")
def evaluate_ccpg(features: np.ndarray, dataset, settings: Settings, out_dir: Path) -> Evaluation:
    metric = settings.evaluator.metric
    test = TestSet(features, dataset, view_of=ccpg_view)
    views = test.view_list()
    result = Evaluation({})
    for cond, (probe_types, gallery_types) in CCPG_SETTINGS.items():
        rule = types_in(*probe_types)
        gallery = np.isin(test.types, gallery_types)
        expected = test.expected_probes(rule, views)
        if not expected:
            result.notes.append(f"{cond}: no probe sequences ({', '.join(probe_types)})")
            continue
        result.notes += identity_notes(cond, expected, test.ids[gallery])
        acc, coverage = rank_k_by_view_pair(test, rule, gallery, views, metric, 1)
        result.coverage[cond] = coverage
        result.metrics[cond] = _mean(exclude_identical_view(acc[..., 0]))
        # Re-identification view: the whole gallery, same identity and view ignored.
        probe = test.probe_mask(rule, views)
        g_ids, g_views = test.ids[gallery], test.views[gallery]
        dist = _distances(test, probe, gallery, metric)
        results = []
        for row, (sid, view) in enumerate(zip(test.ids[probe].tolist(), test.views[probe].tolist())):
            junk = (g_ids == sid) & (g_views == view)
            results.append(rank_with_masks(dist[row], (g_ids == sid) & ~junk, junk))
        for sid, view in _unmatched(expected, test.ids[probe], test.views[probe]):
            junk = (g_ids == sid) & (g_views == view)
            results.append(missing_query((g_ids == sid) & ~junk))
        summary = summarise(results, ranks=(1,))
        result.metrics.update({f"{cond}-reid-Rank@1": summary["rank1"], f"{cond}-mAP": summary["mAP"],
                               f"{cond}-mINP": summary["mINP"]})
    if not result.coverage:
        raise ConfigError("evaluate_CCPG: the test set has no probe sequences of any setting")
    return result


def _unmatched(expected: list[tuple[str, str]], ids: np.ndarray, views: np.ndarray) -> list[tuple[str, str]]:
    """Expected (id, view) probes beyond those evaluated (multiset difference)."""
    have: dict[tuple[str, str], int] = {}
    for key in zip(ids.tolist(), views.tolist()):
        have[key] = have.get(key, 0) + 1
    out = []
    for key in expected:
        if have.get(key, 0) > 0:
            have[key] -= 1
        else:
            out.append(key)
    return out
