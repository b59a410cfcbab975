"""Evaluators by name, what they return, and the counting every protocol shares.

An evaluator is ``fn(features (N, C, P), dataset, settings, out_dir) -> Evaluation``.
``dataset`` has ``sequences`` (subject/type/view of each feature row) and ``partition`` (the
partition JSON); ``settings`` the run's :class:`~opengait.settings.Settings` (it reads
``settings.evaluator`` and ``settings.data.test_dataset``). Evaluators register with
:func:`register_evaluator` (the project's one :class:`~opengait.registry.Registry` mechanism),
optionally with a ``check(settings)`` that rejects settings they cannot honour;
:func:`check_evaluator_config` runs it when the config is loaded, before any training.

Coverage: the partition's ``TEST_SEQUENCES`` (written by preprocessing: every raw test
sequence) says which probes a protocol expects. A probe without features counts as a miss
(rank-1 wrong, AP 0), never as absent, and every evaluator reports probes evaluated /
expected per condition.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from gaitcore.errors import ConfigError
from opengait.registry import Registry
from opengait.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """What an evaluator found: metrics (fractions, to TensorBoard as ``test_accuracy/<name>``
    unless the name has a ``/``), coverage per condition (probes evaluated, expected) and
    one-line notes (a trivial test set, a condition without gallery, ...)."""

    metrics: dict[str, float]
    coverage: dict[str, tuple[int, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    text: str = ""                     # a table for the log (e.g. rank-1 per view)
    # One row per evaluated probe where the protocol scores probes one by one: {"probe": key,
    # "condition", "rank1": share of the gallery views where its first match is right, ...}.
    probes: list[dict] = field(default_factory=list)

    def coverage_lines(self) -> list[str]:
        return [f"{cond}: {done}/{expected} probes evaluated"
                + (f" ({expected - done} missing, counted as misses)" if done < expected else "")
                for cond, (done, expected) in self.coverage.items()]


@dataclass(frozen=True)
class Registered:
    fn: Callable[..., Evaluation]
    check: Callable[[dict], None] | None                # the config, at load
    preflight: Callable[[object, dict], None] | None = None   # the test set, before any feature


# Evaluators of this package; more come from installed plugins (opengait_ccvid's evaluate_ccvid).
EVALUATORS = Registry("evaluator", "evaluator_cfg.eval_func",
                      ("opengait.evaluation.indoor", "opengait.evaluation.real_scene"))


def register_evaluator(*names: str, check: Callable[[Settings], None] | None = None,
                       preflight: Callable[[object, Settings], None] | None = None):
    """Register ``fn`` under ``names`` with an optional ``check(settings)`` of its settings (at
    config load) and ``preflight(dataset, settings)`` of the test set (before the features are
    extracted)."""
    return EVALUATORS.register(*names, value=lambda fn: Registered(fn, check, preflight), own_name=False)


def _registered(name: str) -> Registered:
    return EVALUATORS.get(name)


def get_evaluator(name: str) -> Callable[..., Evaluation]:
    return _registered(name).fn


def preflight_evaluation(name: str, dataset, settings: Settings) -> None:
    """The evaluator's check of the test set, if it has one (a protocol the data cannot follow
    is an error before minutes of feature extraction)."""
    entry = _registered(name)
    if entry.preflight is not None:
        entry.preflight(dataset, settings)


def check_evaluator_config(settings: Settings) -> None:
    """Refuse an unknown evaluator or settings it cannot honour (at config load)."""
    if settings.data.remove_no_gallery:
        raise ConfigError("data_cfg.remove_no_gallery: true would drop probes whose identity has "
                          "no gallery sequence; official protocols count every probe (OpenGait's "
                          "own code never reads this key): set it to false")
    ecfg = settings.evaluator
    entry = _registered(ecfg.eval_func)
    if ecfg.view_pair_map:
        if ecfg.eval_func not in ("evaluate_indoor_dataset", "evaluate_casia_b"):
            raise ConfigError(f"evaluator_cfg.view_pair_map: true is for the single-view-gallery "
                              f"protocols (evaluate_indoor_dataset, evaluate_casia_b), not {ecfg.eval_func}")
        if ecfg.cross_view_gallery:
            raise ConfigError("evaluator_cfg.view_pair_map: the cross-view gallery reports mAP already; "
                              "set one of the two")
    if entry.check is not None:
        entry.check(settings)


# --- shared counting ----------------------------------------------------------------------

def sequence_keys(sequences) -> list[str]:
    return [f"{s.subject}/{s.type}/{s.view}" for s in sequences]


def expected_test_keys(dataset) -> list[str] | None:
    """Every raw test sequence preprocessing saw (the partition's TEST_SEQUENCES), or None."""
    keys = (getattr(dataset, "partition", None) or {}).get("TEST_SEQUENCES")
    return None if keys is None else list(keys)


def split_key(key: str) -> tuple[str, str, str]:
    subject, typ, view = key.split("/")
    return subject, typ, view


def identity_notes(what: str, probe_ids: Sequence, gallery_ids: Sequence) -> list[str]:
    """One-line warnings when a retrieval test is trivial or impossible."""
    notes = []
    g = set(map(str, gallery_ids))
    if not len(gallery_ids):
        notes.append(f"{what}: no gallery sequences, nothing to rank against")
    elif len(g) < 2:
        notes.append(f"{what}: the gallery holds a single identity ({next(iter(g))}): every "
                     "probe of it is matched by construction, rank-1 says nothing")
    if not len(probe_ids):
        notes.append(f"{what}: no probe sequences")
    return notes


def log_evaluation(name: str, result: Evaluation) -> None:
    if result.text:
        log.info("%s:\n%s", name, result.text)
    for line in result.coverage_lines():
        log.info("%s coverage %s", name, line)
    for note in result.notes:
        log.warning("%s: %s", name, note)


def as_array(values) -> np.ndarray:
    return np.asarray(list(values))
