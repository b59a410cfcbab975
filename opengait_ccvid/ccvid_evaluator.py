"""``evaluate_ccvid``: the CCVID protocol as a trainer evaluator (``evaluator_cfg.eval_func``).

Reads from the partition JSON written by ``datasets_preprocess/ccvid/make_probe_gallery.py``:
``PROBE_SET`` (query tracklets), ``GALLERY_SET`` and ``SEQUENCE_INFO`` (clothes label and camera
of every sequence). Features are whole tracklets (all frames up to ``frames_all_limit``). A
query listed in PROBE_SET without features is a miss (AP 0) in every setting where the gallery
holds a true match for it; queries evaluated / expected are reported. Writes a per-query CSV
next to the run's eval JSON and returns the TensorBoard scalars ``test/ccvid_general/*`` and
``test/ccvid_cc/*``.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from gaitcore.atomic_files import atomic_open
from gaitcore.errors import ConfigError
from opengait.evaluation.distance import pairwise_distance
from opengait.evaluation.evaluators import Evaluation, identity_notes, register_evaluator
from opengait.evaluation.retrieval import missing_query, summarise
from opengait.settings import Settings
from opengait_ccvid.ccvid_metrics import SETTINGS, evaluate_settings, match_masks

log = logging.getLogger(__name__)
RANKS = (1, 5, 10, 20)


def format_table(summary: dict) -> str:
    head = "setting  | " + " | ".join(f"R{k:<3}" for k in RANKS) + " |  mAP  | mINP  | queries"
    lines = [head, "-" * len(head)]
    for s in SETTINGS:
        r = summary[s]
        lines.append(f"{s:8} | " + " | ".join(f"{100 * r[f'rank{k}']:4.1f}" for k in RANKS)
                     + f" | {100 * r['mAP']:5.1f} | {100 * r['mINP']:5.1f} | {r['queries']}")
    return "\n".join(lines)


@register_evaluator("evaluate_ccvid")
def evaluate_ccvid(features: np.ndarray, dataset, settings: Settings, out_dir: Path) -> Evaluation:
    part = dataset.partition
    for key in ("PROBE_SET", "GALLERY_SET", "SEQUENCE_INFO"):
        if key not in part:
            raise ConfigError(f"evaluate_ccvid: the partition has no {key}; make it with "
                              "datasets_preprocess/ccvid/make_probe_gallery.py")
    row_of = {s.key: i for i, s in enumerate(dataset.sequences)}
    info = part["SEQUENCE_INFO"]
    probe = [k for k in part["PROBE_SET"] if k in row_of]
    missing = [k for k in part["PROBE_SET"] if k not in row_of]
    gallery = [k for k in part["GALLERY_SET"] if k in row_of]
    if not probe or not gallery:
        raise ConfigError("evaluate_ccvid: none of the PROBE_SET / GALLERY_SET sequences is in "
                          "the test data (check data_cfg.dataset_root and dataset_partition)")

    def fields(keys):
        return ([k.split("/")[0] for k in keys], [info[k]["camera"] for k in keys],
                [info[k]["clothes"] for k in keys])
    dist = pairwise_distance(features[[row_of[k] for k in probe]],
                             features[[row_of[k] for k in gallery]], settings.evaluator.metric)
    _, per_query = evaluate_settings(dist, *fields(probe), *fields(gallery), RANKS)
    g_fields = [np.asarray(a) for a in fields(gallery)]
    for key in missing:
        pid, cams, clothes = fields([key])
        for s in SETTINGS:
            good, _ = match_masks(pid[0], cams[0], clothes[0], *g_fields, s)
            per_query[s].append(missing_query(good))
    summary = {s: summarise(per_query[s], RANKS) for s in SETTINGS}
    write_per_query(Path(out_dir) / "eval" / "ccvid_per_query.csv", probe + missing, gallery, dist,
                    info, per_query)
    result = Evaluation({f"test/ccvid_{s}/{name}": summary[s][name] for s in SETTINGS
                         for name in [f"rank{k}" for k in RANKS] + ["mAP", "mINP"]},
                        coverage={"queries": (len(probe), len(probe) + len(missing))},
                        text=f"CCVID ({len(probe)} query / {len(gallery)} gallery tracklets):\n"
                             + format_table(summary))
    result.notes += identity_notes("CCVID", fields(probe)[0], fields(gallery)[0])
    return result


def write_per_query(path: Path, probe, gallery, dist, info, per_query) -> None:
    with atomic_open(path, "w") as f:
        writer = csv.writer(f)
        writer.writerow(["query", "pid", "clothes", "camera"]
                        + [f"{s}_{c}" for s in SETTINGS for c in ("first_hit_rank", "last_hit_rank", "AP", "positives")]
                        + ["top5_gallery"])
        for i, key in enumerate(probe):
            row = [key, key.split("/")[0], info[key]["clothes"], info[key]["camera"]]
            for s in SETTINGS:
                r = per_query[s][i]
                row += ["missing" if r.missing else "" if r.first_hit is None else r.first_hit + 1,
                        "missing" if r.missing else "" if r.last_hit is None else r.last_hit + 1,
                        "" if r.ap is None else f"{r.ap:.4f}", r.positives]
            row.append("" if i >= len(dist) else
                       " ".join(gallery[j] for j in np.argsort(dist[i], kind="stable")[:5]))
            writer.writerow(row)
