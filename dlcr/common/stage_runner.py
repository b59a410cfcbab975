"""What every DLCR stage shares: command-line options and their defaults from configs/dlcr.yaml
(``--config``), device/dtype, the model loaded on first use, sharding across ``--shard i/n`` runs and
``accelerate launch`` processes, resume by key, batching with a tqdm bar, counts and a summary line.

Work items are split by their position in the sorted item list: item j belongs to the writer
``j mod (n * world) == i * world + rank``, so the shards and processes together cover every
item exactly once. Records already written (by any writer) are skipped, so a killed run
resumes where it stopped; ``--overwrite`` starts from scratch.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Sequence, TypeVar

import torch
import yaml
from tqdm import tqdm

from dlcr.common.image_items import parse_splits
from gaitcore.cli import DEVICE_HELP, resolve_device_name
from gaitcore.errors import UserInputError
from gaitcore.yaml_files import DuplicateKeyError, parse_yaml
from gaitcore.jsonl_records import RecordWriter, consolidate, parts_dir, read_records

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
DLCR_CONFIG = REPO_ROOT / "configs" / "dlcr.yaml"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Options every stage takes from its block: key -> (conversion, value when the block has none).
STAGE_FIELDS = {"ckpt": (str, None), "batch_size": (int, 1), "seed": (int, 0)}
T = TypeVar("T")


def read_config_block(stage: str, config: str | Path = DLCR_CONFIG) -> dict:
    """The ``stage`` block of the DLCR config as written (empty when absent); a missing or
    malformed file is a :class:`UserInputError` naming it."""
    path = Path(config)
    try:
        doc = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        raise UserInputError(f"{path}: DLCR config not found (--config)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserInputError(f"{path}: cannot read the DLCR config ({type(e).__name__}: {e})") from None
    except DuplicateKeyError as e:
        raise UserInputError(str(e)) from None
    except yaml.YAMLError as e:
        mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None) or type(e).__name__
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise UserInputError(f"{path}: DLCR config is not valid YAML ({where}{problem})") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise UserInputError(f"{path}: DLCR config must be a mapping of stage blocks, found a "
                             f"{type(doc).__name__}")
    block = doc.get(stage) or {}
    if not isinstance(block, dict):
        raise UserInputError(f"{path}: block {stage!r} must be a mapping of option: value")
    return block


def stage_defaults(stage: str, fields: dict[str, tuple[Callable[[Any], Any], Any]],
                   config: str | Path = DLCR_CONFIG) -> dict:
    """The defaults of a stage's options: ``fields`` (and :data:`STAGE_FIELDS`) maps a key of
    the ``stage`` block to ``(conversion, fallback)``; the fallback applies when the block has
    no such key. A value the conversion refuses is a :class:`UserInputError` naming the file."""
    block = read_config_block(stage, config)
    values = {}
    for key, (convert, fallback) in {**STAGE_FIELDS, **fields}.items():
        value = block.get(key)
        if value is None:
            value = fallback
        try:
            values[key] = None if value is None else convert(value)
        except (TypeError, ValueError) as e:
            raise UserInputError(f"{config}: {stage}.{key} = {value!r} is not usable ({e})") from None
    return values


def one_of(choices: Sequence[str]) -> Callable[[Any], str]:
    """A conversion for :func:`stage_defaults` that accepts only ``choices``."""
    def convert(value: Any) -> str:
        if str(value) not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return str(value)
    return convert


@dataclass(frozen=True)
class StageDefaults:
    """A stage's defaults as read while the command line is parsed: the values, or built-in
    fallbacks and the problem when the config cannot be used (``--help`` still works; a run
    stops with that problem in one line, see :meth:`stop_on_problem`)."""

    stage: str
    config: str
    values: dict
    problem: UserInputError | None = None

    def get(self, key: str) -> Any:
        return self.values.get(key)

    @property
    def note(self) -> str:
        """Where the defaults come from, for the end of ``--help``."""
        if self.problem is None:
            text = (f"Defaults marked 'config' are the {self.stage!r} block of {self.config} "
                    "(choose another file with --config); flags win.")
        else:
            text = (f"Defaults marked 'config' come from the {self.stage!r} block of {self.config}, "
                    f"which cannot be used: {self.problem}. The values shown are built-in fallbacks; "
                    "a run stops with this error.")
        return textwrap.fill(text, 100)

    def stop_on_problem(self, parser: argparse.ArgumentParser) -> None:
        """Exit with the one-line error of the scripts (status 2) when the config is unusable."""
        if self.problem is not None:
            parser.exit(2, f"error: {self.problem}\n")


def config_from_argv(argv: Sequence[str] | None) -> str:
    """The ``--config`` of a command line, before the full parser exists (its defaults depend on it)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=str(DLCR_CONFIG))
    return pre.parse_known_args(argv)[0].config


def read_stage_defaults(argv: Sequence[str] | None, stage: str,
                        fields: dict[str, tuple[Callable[[Any], Any], Any]]) -> StageDefaults:
    """The defaults for a stage's parser, read from ``--config`` of ``argv``; never raises."""
    config = config_from_argv(argv)
    try:
        return StageDefaults(stage, config, stage_defaults(stage, fields, config))
    except UserInputError as e:
        fallbacks = {key: fallback for key, (_, fallback) in {**STAGE_FIELDS, **fields}.items()}
        return StageDefaults(stage, config, fallbacks, e)


def add_stage_arguments(parser: argparse.ArgumentParser, defaults: StageDefaults) -> None:
    """--config --ckpt --device --dtype --batch-size --limit --shard --seed --overwrite."""
    parser.add_argument("--config", default=str(DLCR_CONFIG),
                        help="YAML file of the DLCR stages' defaults (default configs/dlcr.yaml)")
    parser.add_argument("--ckpt", default=defaults.get("ckpt"),
                        help=f"model: a local folder/file or a hub id (default {defaults.get('ckpt')}, config)")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--dtype", default="auto", choices=["auto", *DTYPES],
                        help="auto: float16 on CUDA, float32 on CPU")
    parser.add_argument("--batch-size", type=int, default=defaults.get("batch_size"),
                        help=f"items per model call (default {defaults.get('batch_size')}, config)")
    parser.add_argument("--limit", type=int, default=0, help="stop after this many new items (0: all)")
    parser.add_argument("--shard", default="0/1", metavar="I/N",
                        help="process only shard I of N (0-based), e.g. 0/2 and 1/2 on two machines")
    parser.add_argument("--seed", type=int, default=defaults.get("seed"),
                        help=f"random seed (default {defaults.get('seed')}, config)")
    parser.add_argument("--overwrite", action="store_true", help="discard earlier output and redo everything")


def check_stage_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad values of the shared options (given or from the config) before any work,
    with ``parser.error``."""
    try:
        parse_shard(args.shard)
    except UserInputError as e:
        parser.error(str(e))
    if not args.ckpt:
        parser.error("--ckpt: none given and the config has none")
    if args.batch_size < 1:
        parser.error(f"--batch-size {args.batch_size}: must be >= 1")
    if args.limit < 0:
        parser.error(f"--limit {args.limit}: must be >= 0 (0: all)")
    if getattr(args, "max_new_tokens", 1) < 1:              # the stages that generate text
        parser.error(f"--max-new-tokens {args.max_new_tokens}: must be >= 1")
    if getattr(args, "splits", None) is not None:          # the stages that read CCVID splits
        try:
            args.splits = ",".join(parse_splits(args.splits))
        except UserInputError as e:
            parser.error(str(e))


def resolve_device(name: str) -> torch.device:
    device = torch.device(resolve_device_name(name))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError(f"--device {name}: CUDA is not available here (use --device cpu)")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return DTYPES[name]


class LazyModel(Generic[T]):
    """A model built by ``load()`` on first use, then reused: a run that finds nothing left to
    do (everything resumed) never loads it. ``model()`` returns it."""

    def __init__(self, load: Callable[[], T]):
        self._load = load
        self._model: T | None = None
        self._loaded = False

    def __call__(self) -> T:
        if not self._loaded:
            self._model = self._load()
            self._loaded = True
        return self._model


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
    done = set(read_records(out, record_key, counts))
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
