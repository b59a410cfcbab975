"""A checked config as frozen, typed sections: what :func:`opengait.config.load_config` returns.

The loop, the data loaders, checkpointing and the evaluators take the sections they read, never
the YAML's raw dictionary: ``settings.data`` (:class:`DataSettings`), ``settings.trainer``
(:class:`TrainerSettings`), ``settings.evaluator`` (:class:`EvaluatorSettings`) and the open
sections, whose keys depend on the model / ``torch.optim`` class / losses they name and were
checked against them at load: ``settings.model``, ``settings.optimizer``, ``settings.scheduler``
(read-only mappings in the YAML's shape) and ``settings.losses`` (a read-only list).

Nothing here checks or fills a value: ``load_config`` has checked every key, type and range
(a key's default lives in ``configs/default.yaml`` only), and the sections are built from the
result. Frozen all the way down: a section's attributes cannot be reassigned and its nested
mappings and lists refuse changes, so no part of the program can change a setting another part
reads. :meth:`Settings.as_dict` gives the plain dictionary back (for the run's ``config.yaml``
and a checkpoint's record).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping


class FrozenDict(dict):
    """A dict that refuses changes (``isinstance(x, dict)`` still holds, so code reading the
    YAML's shape works unchanged); pickles and deep-copies as itself."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("settings are frozen after load_config; change them with --set or in the YAML")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __reduce__(self):
        return FrozenDict, (dict(self),)

    def __deepcopy__(self, memo):
        return self


class FrozenList(list):
    """A list that refuses changes (see :class:`FrozenDict`)."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("settings are frozen after load_config; change them with --set or in the YAML")

    __setitem__ = __delitem__ = append = extend = insert = pop = remove = clear = sort = reverse = \
        __iadd__ = __imul__ = _refuse

    def __reduce__(self):
        return FrozenList, (list(self),)

    def __deepcopy__(self, memo):
        return self


def freeze(value: Any) -> Any:
    """Nested dicts and lists as :class:`FrozenDict` / :class:`FrozenList` (other values as they are)."""
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return FrozenList(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Plain dicts and lists again (what YAML writers and ``torch.load(weights_only=True)`` take)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


class _Section:
    """A frozen dataclass over one YAML section: one field per key of ``configs/default.yaml``."""

    SECTION = ""

    @classmethod
    def from_section(cls, section: Mapping):
        names = {f.name for f in fields(cls)}
        missing, extra = names - set(section), set(section) - names
        if missing or extra:          # load_config's key check makes this a programming error
            raise KeyError(f"{cls.SECTION}: the section's keys and {cls.__name__}'s fields differ "
                           f"(missing {sorted(missing)}, unknown {sorted(extra)})")
        return cls(**{name: freeze(section[name]) for name in names})

    def as_dict(self) -> dict:
        return {f.name: thaw(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class DataSettings(_Section):
    """``data_cfg``: where the pretreated sequences are and how they are read."""

    SECTION = "data_cfg"
    dataset_name: str
    dataset_root: str
    dataset_partition: str
    data_in_use: list | None
    num_workers: int
    cache: bool
    max_failed_share: float
    remove_no_gallery: bool
    test_dataset_name: str | None

    @property
    def test_dataset(self) -> str:
        """The protocol's dataset: ``test_dataset_name``, else ``dataset_name`` (OpenGait's rule)."""
        return self.test_dataset_name or self.dataset_name


@dataclass(frozen=True)
class TrainerSettings(_Section):
    """``trainer_cfg``: the training loop's settings (``sampler`` and ``transform`` in the YAML's shape)."""

    SECTION = "trainer_cfg"
    enable_float16: bool
    mixed_precision: str | None
    fix_BN: bool
    sync_BN: bool
    find_unused_parameters: bool
    with_test: bool
    log_iter: int
    image_log_iter: int
    restore_ckpt_strict: bool
    restore_hint: int | str
    optimizer_reset: bool
    scheduler_reset: bool
    save_iter: int
    save_name: str
    total_iter: int
    grad_clip: float | None          # 0 / null: no clipping
    compile: bool
    seed: int
    sampler: Mapping
    transform: list


@dataclass(frozen=True)
class EvaluatorSettings(_Section):
    """``evaluator_cfg``: which checkpoint is tested, how sequences are embedded and scored."""

    SECTION = "evaluator_cfg"
    enable_float16: bool
    compile: bool
    restore_ckpt_strict: bool
    restore_hint: int | str
    save_name: str
    eval_func: str
    metric: str
    cross_view_gallery: bool
    view_pair_map: bool
    probe_types: list
    gallery_types: list
    exclude_same_view: bool
    sampler: Mapping
    transform: list


@dataclass(frozen=True)
class Settings:
    """Every section of a checked config."""

    data: DataSettings
    trainer: TrainerSettings
    evaluator: EvaluatorSettings
    model: Mapping                   # model_cfg: ``model`` + that model's keys
    optimizer: Mapping               # optimizer_cfg: ``solver`` + the torch.optim class's keys
    scheduler: Mapping               # scheduler_cfg: ``scheduler`` + its keys, warm-up
    losses: list                     # loss_cfg: one mapping per loss
    plugins: list

    @classmethod
    def from_config(cls, cfg: Mapping) -> "Settings":
        """Sections of a config that :func:`opengait.config.load_config` has checked."""
        losses = cfg["loss_cfg"]
        return cls(data=DataSettings.from_section(cfg["data_cfg"]),
                   trainer=TrainerSettings.from_section(cfg["trainer_cfg"]),
                   evaluator=EvaluatorSettings.from_section(cfg["evaluator_cfg"]),
                   model=freeze(cfg["model_cfg"]), optimizer=freeze(cfg["optimizer_cfg"]),
                   scheduler=freeze(cfg["scheduler_cfg"]),
                   losses=freeze(losses if isinstance(losses, list) else [losses]),
                   plugins=freeze(cfg.get("plugins") or []))

    def as_dict(self) -> dict:
        """The config as the YAML's plain dictionary."""
        return {"plugins": thaw(self.plugins), "data_cfg": self.data.as_dict(),
                "evaluator_cfg": self.evaluator.as_dict(), "loss_cfg": thaw(self.losses),
                "model_cfg": thaw(self.model), "optimizer_cfg": thaw(self.optimizer),
                "scheduler_cfg": thaw(self.scheduler), "trainer_cfg": self.trainer.as_dict()}
