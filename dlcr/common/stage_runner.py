"""What every DLCR stage shares: command-line options, device/dtype, sharding across
``--shard i/n`` runs and ``accelerate launch`` processes, resume by key, batching with a tqdm
bar, counts and a summary line.

Work items are split by their position in the sorted item list: item j belongs to the writer
``j mod (n * world) == i * world + rank``, so the shards and processes together cover every
item exactly once. Records already written (by any writer) are skipped, so a killed run
resumes where it stopped; ``--overwrite`` starts from scratch.
"""
from __future__ import annotations

import argparse
import logging
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import yaml
from tqdm import tqdm

from datasets_preprocess.common.cli import UserInputError
from datasets_preprocess.common.jsonl_records import RecordWriter, consolidate, parts_dir, read_records

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
DLCR_CONFIG = REPO_ROOT / "configs" / "dlcr.yaml"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def stage_defaults(stage: str, config: str | Path = DLCR_CONFIG) -> dict:
    """The ``stage`` block of configs/dlcr.yaml (empty when absent)."""
    path = Path(config)
    if not path.exists():
        raise UserInputError(f"{path}: DLCR config not found")
    return (yaml.safe_load(path.read_text()) or {}).get(stage) or {}


def add_stage_arguments(parser: argparse.ArgumentParser, defaults: dict) -> None:
    """--ckpt --device --dtype --batch-size --limit --shard --seed --overwrite."""
    parser.add_argument("--ckpt", default=defaults.get("ckpt"),
                        help=f"model: a local folder/file or a hub id (default {defaults.get('ckpt')})")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default="auto", choices=["auto", *DTYPES],
                        help="auto: float16 on CUDA, float32 on CPU")
    parser.add_argument("--batch-size", type=int, default=int(defaults.get("batch_size", 1)),
                        help=f"items per model call (default {defaults.get('batch_size', 1)})")
    parser.add_argument("--limit", type=int, default=0, help="stop after this many new items (0: all)")
    parser.add_argument("--shard", default="0/1", metavar="I/N",
                        help="process only shard I of N (0-based), e.g. 0/2 and 1/2 on two machines")
    parser.add_argument("--seed", type=int, default=int(defaults.get("seed", 0)), help="random seed")
    parser.add_argument("--overwrite", action="store_true", help="discard earlier output and redo everything")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError(f"--device {name}: CUDA is not available here (use --device cpu)")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return DTYPES[name]


@dataclass(frozen=True)
class Share:
    """Which items this writer owns: shard ``index`` of ``count``, process ``rank`` of ``world``."""

    index: int = 0
    count: int = 1
    rank: int = 0
    world: int = 1

    @property
    def writer_name(self) -> str:
        return f"shard{self.index}of{self.count}-rank{self.rank}of{self.world}"

    def owns(self, position: int) -> bool:
        return position % (self.count * self.world) == self.index * self.world + self.rank

    @property
    def covers_everything(self) -> bool:
        return self.count == 1


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise UserInputError(f"--shard {text!r}: expected I/N such as 0/2") from None
    if not (n >= 1 and 0 <= i < n):
        raise UserInputError(f"--shard {text!r}: need 0 <= I < N")
    return i, n


def current_share(shard: str):
    """This process's share and the accelerate state (a single process without a launcher)."""
    from accelerate import PartialState
    state = PartialState(cpu=not torch.cuda.is_available())
    i, n = parse_shard(shard)
    return Share(i, n, state.process_index, state.num_processes), state


def load_pretrained(loader: Callable[[str], Any], ckpt: str | None, what: str) -> Any:
    """``loader(ckpt)`` (a ``from_pretrained``) with a clear error for a missing checkpoint.
    The stages' loaders ask for safetensors weights (``use_safetensors=True``: no pickle) and
    never pass ``trust_remote_code`` (no code from a model folder runs)."""
    if not ckpt:
        raise UserInputError(f"no --ckpt given for the {what}")
    looks_local = ckpt.startswith((".", "/", "~")) or Path(ckpt).exists()
    if looks_local and not Path(ckpt).expanduser().exists():
        raise UserInputError(f"{ckpt}: {what} checkpoint not found")
    try:
        return loader(str(Path(ckpt).expanduser()) if looks_local else ckpt)
    except (OSError, ValueError, KeyError) as e:
        raise UserInputError(f"{ckpt}: cannot load the {what} ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:300]}); give a local folder or a reachable "
                             "hub id (offline machines need HF_HUB_OFFLINE=1 and a local copy)") from None


def run_stage(name: str, items: Sequence[Any], key_of: Callable[[Any], str], out: Path,
              process_batch: Callable[[list], list[dict]], args: argparse.Namespace,
              record_key: str = "key", counts: Counter | None = None) -> Counter:
    """Process this writer's share of ``items`` not done yet, in batches; write records."""
    share, state = current_share(args.shard)
    counts = counts if counts is not None else Counter()
    if args.overwrite and state.is_main_process and share.index == 0:
        Path(out).unlink(missing_ok=True)
        shutil.rmtree(parts_dir(out), ignore_errors=True)
    state.wait_for_everyone()
    done = set(read_records(out, record_key))
    mine = [it for j, it in enumerate(items) if share.owns(j)]
    todo = [it for it in mine if key_of(it) not in done]
    counts["already_done"] += len(mine) - len(todo)
    if args.limit:
        todo = todo[:args.limit]
    batch = max(1, int(args.batch_size))
    with RecordWriter(out, share.writer_name) as writer:
        for start in tqdm(range(0, len(todo), batch), desc=name, unit="batch",
                          disable=not state.is_local_main_process):
            for record in process_batch(todo[start:start + batch]):
                writer.write(record)
                counts["written"] += 1
                if record.get("error"):
                    counts["errors"] += 1
    state.wait_for_everyone()
    if share.covers_everything and state.is_main_process:
        counts["total_records"] = consolidate(out, record_key, [key_of(it) for it in items])
    return counts


def summary(name: str, counts: Counter, out: Path) -> str:
    extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(counts.items())
                      if k not in ("written", "already_done", "errors", "total_records"))
    return (f"{name}: {counts['written']} written ({counts['errors']} with errors), "
            f"{counts['already_done']} already done" + (f", {extra}" if extra else "")
            + (f"; {counts['total_records']} records" if "total_records" in counts else "")
            + f" -> {out}")
