"""Evaluation protocols on extracted features: CASIA-B (cross-view, NM/BG/CL) and GREW.

Every evaluator takes ``(features (N, C, P), dataset, evaluator_cfg, out_dir)`` -- ``dataset``
has ``sequences`` (subject/type/view of each feature row) and ``partition`` (the partition
JSON) -- and returns ``{metric name: value}``, logged to TensorBoard as ``test_accuracy/<name>``
(names containing a ``/`` are used as they are); the table is logged as text. New protocols
register with :func:`register_evaluator`.
"""
from __future__ import annotations

import csv
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from datasets_preprocess.common.atomic_files import atomic_open
from opengait.config import ConfigError
from opengait.evaluation.distance import pairwise_distance, topk_indices
from opengait.evaluation.retrieval import rank_with_masks, summarise

log = logging.getLogger(__name__)
EVALUATORS: dict[str, Callable] = {}

CASIA_PROBES = OrderedDict([("NM", ("nm-05", "nm-06")), ("BG", ("bg-01", "bg-02")),
                            ("CL", ("cl-01", "cl-02"))])
CASIA_GALLERY = ("nm-01", "nm-02", "nm-03", "nm-04")


def register_evaluator(*names: str):
    def wrap(fn: Callable) -> Callable:
        for name in names:
            if name in EVALUATORS:
                raise ValueError(f"evaluator {name!r} registered twice")
            EVALUATORS[name] = fn
        return fn
    return wrap


# Evaluators that live in another entry point (which registers them on import).
ENTRY_POINTS = {"evaluate_ccvid": "opengait_ccvid/main.py"}


def get_evaluator(name: str) -> Callable:
    if name not in EVALUATORS:
        hint = f"; run it with {ENTRY_POINTS[name]}" if name in ENTRY_POINTS else ""
        raise ConfigError(f"evaluator_cfg.eval_func: unknown {name!r} (known: "
                          f"{', '.join(sorted(EVALUATORS))}){hint}")
    return EVALUATORS[name]


def casia_b_rank1(features: np.ndarray, ids: Sequence[str], types: Sequence[str],
                  views: Sequence[str], metric: str = "euc") -> dict:
    """Rank-1 per probe condition, probe view and gallery view (identical view excluded in the
    means). Returns ``{cond: {"matrix": (V, V), "views": [...], "per_view": (V,), "mean": x}}``."""
    ids, types, views = (np.asarray(a) for a in (ids, types, views))
    gallery_mask = np.isin(types, CASIA_GALLERY)
    all_views = sorted(set(views[gallery_mask]))
    results = {}
    for cond, probe_types in CASIA_PROBES.items():
        probe_mask = np.isin(types, probe_types)
        if not probe_mask.any() or not gallery_mask.any():
            continue
        dist = pairwise_distance(features[probe_mask], features[gallery_mask], metric)
        p_ids, p_views = ids[probe_mask], views[probe_mask]
        g_ids, g_views = ids[gallery_mask], views[gallery_mask]
        matrix = np.full((len(all_views), len(all_views)), np.nan)
        for i, pv in enumerate(all_views):
            rows = p_views == pv
            if not rows.any():
                continue
            for j, gv in enumerate(all_views):
                cols = g_views == gv
                if not cols.any():
                    continue
                nearest = np.argmin(dist[np.ix_(rows, cols)], axis=1)
                matrix[i, j] = float(np.mean(g_ids[cols][nearest] == p_ids[rows]))
        off_diag = matrix.copy()
        if len(all_views) > 1:
            np.fill_diagonal(off_diag, np.nan)
        per_view = np.nanmean(off_diag, axis=1) if np.isfinite(off_diag).any() else np.full(len(all_views), np.nan)
        results[cond] = {"matrix": matrix, "views": all_views, "per_view": per_view,
                         "mean": float(np.nanmean(per_view))}
    return results


def format_casia_b_table(results: dict) -> str:
    views = next(iter(results.values()))["views"] if results else []
    head = "probe | " + " | ".join(views) + " | mean"
    lines = [head, "-" * len(head)]
    for cond, r in results.items():
        cells = [f"{100 * v:5.1f}" if np.isfinite(v) else "  -  " for v in r["per_view"]]
        lines.append(f"{cond:5} | " + " | ".join(cells) + f" | {100 * r['mean']:5.1f}")
    return "\n".join(lines)


@register_evaluator("evaluate_casia_b", "evaluate_indoor_dataset")
def evaluate_casia_b(features: np.ndarray, dataset, evaluator_cfg: dict, out_dir: Path) -> dict:
    """CASIA-B: probes NM (nm-05/06), BG (bg-01/02), CL (cl-01/02) against the gallery nm-01..04,
    rank-1 per view pair, identical view excluded, averaged over gallery then probe views."""
    sequences = dataset.sequences
    results = casia_b_rank1(features, [s.subject for s in sequences], [s.type for s in sequences],
                            [s.view for s in sequences], evaluator_cfg.get("metric", "euc"))
    if not results:
        raise ConfigError("evaluate_casia_b: the test set has no gallery (nm-01..04) or no "
                          "probe (nm-05/06, bg-01/02, cl-01/02) sequences")
    log.info("CASIA-B rank-1 (%%, identical view excluded):\n%s", format_casia_b_table(results))
    return {cond: r["mean"] for cond, r in results.items()}


def cmc_ranks(probe_ids: np.ndarray, ranked_ids: np.ndarray, ranks=(1, 5, 10, 20)) -> dict:
    """Share of probes whose id appears within the first r ranked gallery ids."""
    hit = ranked_ids == probe_ids[:, None]
    first = np.where(hit.any(1), hit.argmax(1), np.iinfo(np.int64).max)
    return {f"Rank-{r}": float(np.mean(first < r)) for r in ranks}


@register_evaluator("evaluate_grew", "evaluate_real_scene")
def evaluate_grew(features: np.ndarray, dataset, evaluator_cfg: dict, out_dir: Path) -> dict:
    """GREW local evaluation: gallery type 01 vs probe type 02 of the test ids; rank-1/5/10/20."""
    sequences = dataset.sequences
    types = np.array([s.type for s in sequences])
    ids = np.array([s.subject for s in sequences])
    gallery, probe = types == "01", types == "02"
    if not gallery.any() or not probe.any():
        raise ConfigError("evaluate_grew: needs test sequences of type 01 (gallery) and 02 (probe)")
    top = topk_indices(features[probe], features[gallery], 20, evaluator_cfg.get("metric", "euc"))
    ranks = cmc_ranks(ids[probe], ids[gallery][top])
    log.info("GREW (01 gallery vs 02 probe): %s", ", ".join(f"{k} {100 * v:.2f}%" for k, v in ranks.items()))
    return ranks


@register_evaluator("grew_submission", "GREW_submission")
def grew_submission(features: np.ndarray, dataset, evaluator_cfg: dict, out_dir: Path) -> dict:
    """The GREW challenge file: for each probe/03 sequence the ids of its 20 nearest gallery
    sequences (types 01/02), written as CSV ``videoId,rank1..rank20``."""
    sequences = dataset.sequences
    types = np.array([s.type for s in sequences])
    gallery = np.isin(types, ["01", "02"])
    probe = types == "03"
    if not gallery.any() or not probe.any():
        raise ConfigError("grew_submission: needs gallery (01/02) and probe (03) sequences")
    top = topk_indices(features[probe], features[gallery], 20, evaluator_cfg.get("metric", "euc"))
    g_ids = np.array([s.subject for s in sequences])[gallery]
    probe_names = [s.view for s, p in zip(sequences, probe) if p]
    path = Path(out_dir) / "GREW_result" / f"{time.strftime('%Y-%m%d-%H%M%S')}.csv"
    with atomic_open(path, "w") as f:
        writer = csv.writer(f)
        writer.writerow(["videoId"] + [f"rank{i}" for i in range(1, 21)])
        for name, row in zip(probe_names, g_ids[top]):
            writer.writerow([name] + [str(int(x)) if str(x).isdigit() else str(x) for x in row])
    log.info("GREW submission: %d probes -> %s", len(probe_names), path)
    return {}


def custom_retrieval(features: np.ndarray, ids: Sequence[str], types: Sequence[str], views: Sequence[str],
                     probe_types: Sequence[str], gallery_types: Sequence[str], exclude_same_view: bool = False,
                     metric: str = "euc", ranks=(1, 5, 10)) -> dict:
    """Probes (sequences of ``probe_types``) against the gallery (``gallery_types``): rank-k and
    mAP by sequence; with ``exclude_same_view`` gallery entries of the probe's view are ignored."""
    ids, types, views = (np.asarray(a) for a in (ids, types, views))
    probe = np.isin(types, list(probe_types))
    gallery = np.isin(types, list(gallery_types))
    if not probe.any() or not gallery.any():
        raise ConfigError(f"evaluate_custom: no probe sequences of types {list(probe_types)} or no gallery "
                          f"sequences of types {list(gallery_types)} in the test set (types there: "
                          f"{sorted(set(types.tolist()))})")
    dist = pairwise_distance(features[probe], features[gallery], metric)
    g_ids, g_views = ids[gallery], views[gallery]
    results = []
    for row, q_id, q_view in zip(dist, ids[probe], views[probe]):
        junk = g_views == q_view if exclude_same_view else np.zeros(len(g_ids), bool)
        results.append(rank_with_masks(row, (g_ids == q_id) & ~junk, junk))
    return summarise(results, ranks)


@register_evaluator("evaluate_custom")
def evaluate_custom(features: np.ndarray, dataset, evaluator_cfg: dict, out_dir: Path) -> dict:
    """Your own dataset (datasets_preprocess/custom/): ``evaluator_cfg.probe_types`` against
    ``evaluator_cfg.gallery_types`` (lists of sequence types), optional ``exclude_same_view``."""
    probe_types, gallery_types = evaluator_cfg.get("probe_types"), evaluator_cfg.get("gallery_types")
    if not probe_types or not gallery_types:
        raise ConfigError("evaluate_custom needs evaluator_cfg.probe_types and evaluator_cfg.gallery_types "
                          "(lists of sequence types, e.g. [walk-02] and [walk-01])")
    seqs = dataset.sequences
    out = custom_retrieval(features, [s.subject for s in seqs], [s.type for s in seqs], [s.view for s in seqs],
                           probe_types, gallery_types, bool(evaluator_cfg.get("exclude_same_view", False)),
                           evaluator_cfg.get("metric", "euc"))
    log.info("custom (%d probes with a match, %d without): %s", out["queries"], out["queries_without_match"],
             ", ".join(f"{k} {100 * v:.2f}%" for k, v in out.items() if k.startswith(("rank", "mAP"))))
    return {k: v for k, v in out.items() if k.startswith(("rank", "mAP"))}
