"""The loop every preprocessing script shares: skip finished work, process sequences in a
process pool, write them atomically, log quality records, report counts.

A dataset module supplies jobs (any picklable object with a ``key`` = ``"<id>/<type>/<view>"``)
and a top-level ``load(job) -> (silhouettes, poses)`` function (see
:func:`sequence_builder.build_sequence` for their form).
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml

from gaitcore.atomic_files import atomic_write_text, remove_stale_temps
from gaitcore.cli import EXPECTED_ERRORS
from gaitcore.errors import UserInputError
from gaitcore.parallel import default_workers, parallel_map
from gaitcore.pretreated_io import (SILHOUETTE, compute_gei, gei_path,
                                    write_gei, write_sequence)
from gaitcore.sequence_builder import (QualityLog, QualityRules,
                                       SequenceRecord, build_sequence)
from gaitcore.yaml_files import parse_yaml, yaml_problem

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "preprocess.yaml"
UNREADABLE_INPUT = "unreadable_input"


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--workers, --overwrite, --config, --quality-rule, --no-quality-filter."""
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="worker processes (default: all cores)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo sequences that are already written (default: skip them)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG),
                        help="preprocessing defaults (default configs/preprocess.yaml)")
    parser.add_argument("--quality-rule", action="append", default=[], metavar="KEY=VALUE",
                        help="override one quality rule, e.g. --quality-rule min_frames=15 "
                             "(repeatable; rules are listed in configs/preprocess.yaml)")
    parser.add_argument("--no-quality-filter", action="store_true",
                        help="treat training sequences like test ones: keep every frame with a "
                             "silhouette (OpenGait's pretreatment; 1_sil.pkl byte-identical to "
                             "its output). Test sequences are never filtered either way")


def load_quality_rules(config_path: str, dataset: str, overrides: Sequence[str] = ()) -> QualityRules:
    """Shared rules, then the dataset's, then KEY=VALUE overrides."""
    path = Path(config_path)
    try:
        config = parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    except FileNotFoundError:
        raise UserInputError(f"{path}: config file not found") from None
    except UnicodeDecodeError as e:
        raise UserInputError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    except yaml.YAMLError as e:
        raise UserInputError(f"{path}: not valid YAML ({yaml_problem(e)})") from None
    values = dict(config.get("quality") or {})
    values.update((config.get(dataset) or {}).get("quality") or {})
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserInputError(f"--quality-rule {item!r}: expected KEY=VALUE")
        try:
            values[key.strip()] = parse_yaml(value, f"--quality-rule {key.strip()}")
        except yaml.YAMLError as e:
            raise UserInputError(f"--quality-rule {item!r}: the value is not plain YAML data ({yaml_problem(e)})") from None
    try:
        return QualityRules.from_mapping(values)
    except (TypeError, ValueError) as e:
        raise UserInputError(f"{path} / --quality-rule: {e}") from None


def _process(job: Any, load: Callable, rules: QualityRules, root: Path | None,
             gei_root: Path | None, test_ids: frozenset, filter_training: bool,
             prealigned: bool) -> SequenceRecord:
    split = "test" if job.key.split("/")[0] in test_ids else "train"
    unfiltered = split == "test" or not filter_training       # kept whole, as a test sequence is
    try:
        silhouettes, poses = load(job)
    except EXPECTED_ERRORS as e:
        record = SequenceRecord(job.key, split=split).drop(UNREADABLE_INPUT)
        record.detail = str(e)
        return record
    arrays, record = build_sequence(job.key, silhouettes, poses, rules, test=unfiltered,
                                    prealigned=prealigned)
    record.split = split                                      # the partition's word, filtered or not
    if arrays is None:
        return record
    if root is not None:
        seq_dir = root / job.key
        remove_stale_temps(seq_dir.parent, seq_dir.name)
        write_sequence(seq_dir, arrays, overwrite=True)
    if gei_root is not None:
        write_gei(gei_path(gei_root, *job.key.split("/")), compute_gei(arrays[SILHOUETTE]))
    return record


def check_same_rules(path: Path, rules: dict, overwrite: bool) -> None:
    """An output folder is made under one set of quality rules: a re-run with other rules
    would report the old sequences as "already done" and mix two rule sets, so it is refused
    unless ``--overwrite`` (which redoes every sequence under the new rules)."""
    if path.exists() and not overwrite:
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            before = None
        if isinstance(before, dict) and before != rules:
            changed = ", ".join(f"{k} {before.get(k)!r} -> {rules.get(k)!r}"
                                for k in sorted(set(before) | set(rules)) if before.get(k) != rules.get(k))
            raise UserInputError(f"{path.parent}: made with other quality rules ({changed}); "
                                 "add --overwrite to redo it under the new ones, or choose another --out")
    atomic_write_text(path, json.dumps(rules, indent=1, sort_keys=True) + "\n")


def run_sequences(jobs: Iterable[Any], load: Callable, rules: QualityRules, log_dir: Path,
                  root: Path | None, gei_root: Path | None, workers: int, overwrite: bool,
                  desc: str, log_stem: str = "quality", *, test_ids: Iterable[str] = (),
                  filter_training: bool = True, prealigned: bool = False) -> tuple[Counter, dict]:
    """Process every job not finished yet; return (counts, quality report).

    Sequences of ``test_ids`` (the first part of the key) are never thinned; training ones
    are quality-filtered unless ``filter_training`` is False (then every sequence is kept whole,
    as a test one is, and still reported as a training one). ``prealigned`` keeps 64x64
    silhouettes as they are (GREW)."""
    quality = QualityLog(log_dir, log_stem)
    check_same_rules(Path(log_dir) / f"{log_stem}_rules.json",
                     {**asdict(rules), "filter_training": filter_training, "prealigned": prealigned},
                     overwrite)
    previous = {} if overwrite else quality.records()

    def finished(job) -> bool:
        rec = previous.get(job.key)
        if rec is None:
            return False
        if rec["status"] == "dropped":
            return True
        outputs = ([root / job.key] if root is not None else []) + \
                  ([gei_path(gei_root, *job.key.split("/"))] if gei_root is not None else [])
        return all(p.exists() for p in outputs)

    jobs = list(jobs)
    todo = [job for job in jobs if not finished(job)]
    counts = Counter(sequences_skipped=len(jobs) - len(todo))
    worker = functools.partial(_process, load=load, rules=rules, root=root, gei_root=gei_root,
                               test_ids=frozenset(test_ids), filter_training=filter_training,
                               prealigned=prealigned)
    for record in parallel_map(worker, todo, workers, desc=desc, unit="seq"):
        quality.add(record)
        counts[f"sequences_{record.status}"] += 1
        if record.reason:
            counts[f"dropped_{record.reason}"] += 1
            if record.detail:
                log.warning("%s: %s", record.key, record.detail)
    report = quality.write_report()
    return counts, report


def require_kept(name: str, report: dict, log_path: Path) -> None:
    """Stop (exit 2, no partition written) when every sequence, or every training sequence,
    was dropped, naming the most frequent reasons: an output with nothing to train on is a
    mistake upstream (wrong folder, masks in another encoding, quality rules that do not fit
    the data), not a result."""
    s = report["summary"]
    if s.get("sequences_kept", 0) == 0 and s.get("sequences_dropped", 0):
        what = f"all {s['sequences_dropped']} sequences were dropped"
    elif s.get("train_sequences_kept", 0) == 0 and s.get("train_sequences_dropped", 0):
        what = f"all {s['train_sequences_dropped']} training sequences were dropped"
    else:
        return

    def top(prefix: str) -> str:
        items = sorted(((v, k.removeprefix(prefix)) for k, v in s.items() if k.startswith(prefix)), reverse=True)
        return ", ".join(f"{k} {v}" for v, k in items[:3]) or "none"
    raise UserInputError(f"{name}: {what} (sequences: {top('sequences_dropped_')}; frames: "
                         f"{top('frames_dropped_')}); no partition written; per-sequence reasons in {log_path}")


def summary_line(name: str, counts: Counter, report: dict, out: Path) -> str:
    s = report["summary"]
    dropped = {k.removeprefix("sequences_dropped_"): v for k, v in s.items()
               if k.startswith("sequences_dropped_")}
    frame_drops = {k.removeprefix("frames_dropped_"): v for k, v in s.items()
                   if k.startswith("frames_dropped_")}
    return (f"{name}: {counts.get('sequences_kept', 0)} sequences written, "
            f"{counts.get('sequences_dropped', 0)} dropped, {counts.get('sequences_skipped', 0)} "
            f"already done; in total {s.get('sequences_kept', 0)} kept / "
            f"{s.get('sequences_dropped', 0)} dropped {dropped or ''}, frames kept "
            f"{s.get('frames_kept', 0)} of {s.get('frames_in', 0)} (dropped: "
            f"{frame_drops or 'none'})"
            + (f", {s['joints_invalid']} impossible joints read as missing" if s.get("joints_invalid") else "")
            + f" -> {out}")
