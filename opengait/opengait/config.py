"""Experiment configuration: OpenGait's YAML schema merged over ``configs/default.yaml``.

The experiment file lists only what differs from the defaults (nanoGPT-style). Every key must
exist in the defaults -- a misspelled key is an error naming it and the file, never a silent
drop. ``model_cfg``, ``optimizer_cfg``, ``scheduler_cfg`` and ``loss_cfg`` are taken from the
experiment file as a whole and checked against the model, ``torch.optim`` class and losses they
name. ``--set section.key=value`` overrides single keys for quick experiments.

:func:`load_config` is the one place a config is checked, in one pass and before any work
starts: the overrides and the restored iteration are applied first, then the keys, their types
and ranges, the settings honoured one way only, the plugins, and every component the config
names (model schema, losses, transforms, optimizer and scheduler, evaluator). What can only be
judged against the data -- the classifier size against the training ids, the frames asked per
sequence against the longest sequence, P ids per batch against the ids there are -- is checked
where the data are read.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Iterable

import yaml

from gaitcore.atomic_files import atomic_write_text
from gaitcore.errors import ConfigError
from gaitcore.yaml_files import DuplicateKeyError, parse_yaml, yaml_problem
from opengait.config_keys import suggest
from opengait.registry import load_plugins
from opengait.settings import Settings

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = PACKAGE_ROOT.parent / "configs" / "default.yaml"
# Sections replaced as a whole (their keys depend on the model / solver / loss they name).
OPEN_SECTIONS = ("model_cfg", "optimizer_cfg", "scheduler_cfg", "loss_cfg")
# Lists whose entries are checked by the registry of the type they name.
OPEN_LISTS = ("transform",)


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason}); save the config as UTF-8") from None
    except DuplicateKeyError as e:
        raise ConfigError(str(e)) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({yaml_problem(e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of *_cfg sections")
    return data


def merge_strict(base: dict, update: dict, source: str, prefix: str = "") -> dict:
    """Recursively merge ``update`` into a copy of ``base``; unknown keys raise ConfigError."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"{source}: unknown key '{dotted}'{suggest(key, base)}")
        if dotted in OPEN_SECTIONS or key in OPEN_LISTS:
            out[key] = copy.deepcopy(value)
        elif isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{dotted}' must be a mapping, got {type(value).__name__}")
            out[key] = merge_strict(base[key], value, source, f"{dotted}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_override(cfg: dict, item: str) -> None:
    """Apply one ``section.key=value`` (value parsed as YAML) in place."""
    path, sep, raw = item.partition("=")
    if not sep or not path:
        raise ConfigError(f"--set {item!r}: expected section.key=value")
    try:
        value = parse_yaml(raw, f"--set {path}")
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {item!r}: the value is not plain YAML data ({yaml_problem(e)})") from None
    keys = path.split(".")
    node: Any = cfg
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list):
            try:
                index = int(key)
                node[index]
            except (ValueError, IndexError):
                raise ConfigError(f"--set {path}: '{key}' is not an index of a "
                                  f"{len(node)}-entry list") from None
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        open_node = ".".join(keys[:i]) in OPEN_SECTIONS or (i >= 1 and keys[0] in OPEN_SECTIONS)
        if key not in node and not (last and open_node):
            raise ConfigError(f"--set {path}: unknown key '{'.'.join(keys[:i + 1])}'"
                              f"{suggest(key, node)}")
        if last:
            node[key] = value
        else:
            node = node[key]


PHASES = ("train", "test")


def load_config(path: str | Path, overrides: Iterable[str] = (), default_path: str | Path = DEFAULT_CONFIG,
                restore_iter: int = 0, phase: str | None = None) -> Settings:
    """Defaults <- experiment file <- ``--set`` overrides <- ``--iter`` (``restore_iter``: both
    sections' ``restore_hint``), then every check (see the module's docstring). An empty
    ``evaluator_cfg.save_name`` becomes the trainer's (OpenGait's rule), here and only here.
    ``phase`` (train / test) adds what that phase needs: a run name, and for training a
    solver that builds; None (tools that only read a model) checks both run names loosely.
    Returns the frozen, typed sections (:mod:`opengait.settings`)."""
    return settings_from_dict(read_yaml(path), str(path), overrides, default_path, restore_iter, phase)


def settings_from_dict(experiment: dict, source: str = "<settings>", overrides: Iterable[str] = (),
                       default_path: str | Path = DEFAULT_CONFIG, restore_iter: int = 0,
                       phase: str | None = None) -> Settings:
    """:func:`load_config` on an experiment already read (``source`` names it in errors)."""
    if phase not in (None, *PHASES):
        raise ValueError(f"phase {phase!r} is not one of {PHASES}")
    defaults = read_yaml(default_path)
    cfg = merge_strict(defaults, experiment, source)
    for item in overrides:
        apply_override(cfg, item)
    if restore_iter:
        cfg["trainer_cfg"]["restore_hint"] = cfg["evaluator_cfg"]["restore_hint"] = int(restore_iter)
    cfg["evaluator_cfg"]["save_name"] = cfg["evaluator_cfg"].get("save_name") or cfg["trainer_cfg"].get("save_name")
    check_types(cfg, defaults)
    check_settings(cfg, phase)
    load_plugins(cfg.get("plugins"))
    settings = Settings.from_config(cfg)
    check_components(settings, phase)
    return settings


def check_components(settings: Settings, phase: str | None = None) -> None:
    """Every component the config names takes the settings given to it: the model's schema
    (its ``from_config``, with a one-id placeholder for the training set), the losses and both
    sections' transforms (built: they are small), the optimizer and scheduler (built on a dummy
    parameter, for training), and the evaluator."""
    from opengait.data.transforms import build_transform
    from opengait.engine.optim import check_solver_settings
    from opengait.evaluation.evaluators import check_evaluator_config
    from opengait.modeling.losses import LossAggregator
    from opengait.modeling.registry import check_model_config
    check_model_config(settings.model)
    if phase != "test":
        LossAggregator(settings.losses)
        build_transform(settings.trainer.transform, "trainer_cfg.transform")
    build_transform(settings.evaluator.transform, "evaluator_cfg.transform")
    if phase == "train":
        check_solver_settings(settings.optimizer, settings.scheduler)
    check_evaluator_config(settings)


# Keys whose default does not say their type, and range rules: (section path, key) -> check.
_FREE_TYPED = {"restore_hint", "data_in_use", "augmented_share", "frames_all_limit",
               "test_dataset_name", "mixed_precision", "milestones", "batch_size"}
_AT_LEAST = {"total_iter": 1, "save_iter": 1, "log_iter": 1, "image_log_iter": 0, "num_workers": 0,
             "frames_num_fixed": 1, "frames_num_max": 1, "frames_num_min": 1, "frames_skip_num": 0,
             "grad_clip": 0.0, "frames_all_limit": 0}


def _type_name(value) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def check_types(cfg: dict, defaults: dict, prefix: str = "") -> None:
    """Every value must have its default's type (an integer where the default is one, a
    number for a float, true/false for a bool -- ``yes`` is YAML for true and is refused
    where a number is due), and counts must be in range: one line naming the key, the value
    and what is expected."""
    for key, default in defaults.items():
        dotted = f"{prefix}{key}"
        if dotted in OPEN_SECTIONS or key in OPEN_LISTS or key not in cfg:
            continue
        value = cfg[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{dotted}: {value!r}, expected a mapping")
            check_types(value, default, dotted + ".")
            continue
        if key in _FREE_TYPED or default is None or value is None and key in _AT_LEAST:
            pass
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{dotted}: {value!r}, expected true or false")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{dotted}: {value!r}, expected an integer")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{dotted}: {value!r}, expected a finite number")
        elif not isinstance(value, type(default)):
            raise ConfigError(f"{dotted}: {value!r}, expected {_type_name(default)}")
        if key in _AT_LEAST and isinstance(value, (int, float)) and not isinstance(value, bool) \
                and value < _AT_LEAST[key]:
            raise ConfigError(f"{dotted}: {value!r}, expected at least {_AT_LEAST[key]}")
    if prefix == "":
        _check_batch_sizes(cfg)
        share = cfg["data_cfg"].get("max_failed_share")
        if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 <= share <= 1:
            raise ConfigError(f"data_cfg.max_failed_share: {share!r}, expected a number in [0, 1]")


def _check_batch_sizes(cfg: dict) -> None:
    sampler = cfg["trainer_cfg"]["sampler"]
    train = sampler.get("batch_size")
    if sampler.get("type") == "CommonSampler":
        if isinstance(train, bool) or not isinstance(train, int) or train < 1:
            raise ConfigError(f"trainer_cfg.sampler.batch_size: {train!r}; CommonSampler takes one "
                              "integer >= 1 (sequences per batch)")
    elif not (isinstance(train, list) and len(train) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in train)):
        raise ConfigError(f"trainer_cfg.sampler.batch_size: {train!r}, expected [P ids, K sequences], "
                          "two integers >= 1")
    test = cfg["evaluator_cfg"]["sampler"].get("batch_size")
    if isinstance(test, bool) or not isinstance(test, int) or test < 1:
        raise ConfigError(f"evaluator_cfg.sampler.batch_size: {test!r}, expected an integer >= 1")


def check_plain_name(value, where: str) -> None:
    """A name that becomes one folder of output/<dataset_name>/<model>/<save_name>: not empty,
    no path separator, not '.' or '..' (so nothing is written outside its own folder)."""
    if not isinstance(value, str) or not value or value in (".", "..") or any(c in value for c in "/\\\0") \
            or value != value.strip():
        raise ConfigError(f"{where}: {value!r} must be a plain folder name (no '/', '\\', surrounding spaces, "
                          "'.' or '..'): it names a folder of output/<dataset_name>/<model>/<save_name>")


MIXED_PRECISION = ("no", "fp16", "bf16")


def mixed_precision_mode(section) -> str:
    """A section's precision (a YAML mapping or a settings section): ``mixed_precision``, else
    OpenGait's ``enable_float16`` (fp16 / no)."""
    get = section.get if isinstance(section, dict) else (lambda key: getattr(section, key, None))
    return get("mixed_precision") or ("fp16" if get("enable_float16") else "no")


def check_settings(cfg: dict, phase: str | None = None) -> None:
    """Refuse values of OpenGait keys that are accepted for compatibility but honoured only one
    way here (the message says why), and what the phase needs."""
    check_plain_name(cfg["data_cfg"]["dataset_name"], "data_cfg.dataset_name")
    for section in ("trainer_cfg", "evaluator_cfg"):
        if cfg[section].get("save_name"):
            check_plain_name(cfg[section]["save_name"], f"{section}.save_name")
        mode = mixed_precision_mode(cfg[section])
        if mode not in MIXED_PRECISION:
            raise ConfigError(f"{section}.mixed_precision: {mode!r} is not one of {', '.join(MIXED_PRECISION)}")
    if phase == "train" and not cfg["trainer_cfg"].get("save_name"):
        raise ConfigError("trainer_cfg.save_name is empty (it names the run's output folder)")
    if phase == "test" and not cfg["evaluator_cfg"].get("save_name"):
        raise ConfigError("evaluator_cfg.save_name and trainer_cfg.save_name are both empty (one names the "
                          "run folder whose checkpoint is tested)")
    share = cfg["trainer_cfg"]["sampler"].get("augmented_share")
    if share is not None:
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ConfigError(f"trainer_cfg.sampler.augmented_share: {share!r}, expected a number in [0, 1] "
                              "(or null: augmented sequences drawn like the others)")
        if cfg["trainer_cfg"]["sampler"].get("type", "TripletSampler") == "CommonSampler":
            raise ConfigError("trainer_cfg.sampler.augmented_share works with TripletSampler only "
                              "(CommonSampler draws sequences regardless of id)")
    train, test = cfg["trainer_cfg"]["sampler"], cfg["evaluator_cfg"]["sampler"]
    if train.get("type", "TripletSampler") not in ("TripletSampler", "CommonSampler"):
        raise ConfigError(f"trainer_cfg.sampler.type: {train['type']!r}; the training samplers built "
                          "here are TripletSampler (P x K batches) and CommonSampler (random batches)")
    if test.get("type", "InferenceSampler") != "InferenceSampler":
        raise ConfigError(f"evaluator_cfg.sampler.type: {test['type']!r}; testing embeds every "
                          "sequence once with InferenceSampler, the only test sampler built here")
    if test.get("batch_shuffle"):
        raise ConfigError("evaluator_cfg.sampler.batch_shuffle: true is not built: every test "
                          "sequence is embedded once and the order cannot change the results "
                          "(OpenGait's InferenceSampler has no shuffle either); set it to false")
    for where, sampler in (("trainer_cfg", train), ("evaluator_cfg", test)):
        select = sampler.get("frames_all_select", "first")
        if select not in ("first", "evenly_spaced"):
            raise ConfigError(f"{where}.sampler.frames_all_select: {select!r} is not one of "
                              "first, evenly_spaced")


def save_config(settings: Settings, path: str | Path) -> None:
    atomic_write_text(path, yaml.safe_dump(settings.as_dict(), sort_keys=False))
