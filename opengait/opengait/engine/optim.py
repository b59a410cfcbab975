"""Optimizer and scheduler by name from ``torch.optim`` with YAML keyword arguments.

Two keys are ours, taken out before the rest goes to ``torch.optim``:

- ``optimizer_cfg.no_weight_decay``: which parameters take no weight decay. ``model`` (default)
  asks the model (``no_weight_decay()``: HybridGait lists its UL logits, LayerScale γ, norms
  and biases; GaitBase and SkeletonGait++ list none, as OpenGait decays everything), ``none``
  decays every parameter, ``all_1d`` exempts every parameter of one dimension or less.
- a model may also name parameters that learn at a fraction of the learning rate
  (``lr_multipliers()``: HybridGait's UL logits, ``model_cfg.ul_lr_multiplier``).
- ``scheduler_cfg.warmup_iters`` / ``warmup_start_factor``: a linear warm-up of the learning
  rate from ``warmup_start_factor`` x lr to lr over the first ``warmup_iters`` iterations,
  multiplied with the configured scheduler (whose milestones stay absolute iterations).
"""
from __future__ import annotations

import inspect
import math
from typing import Mapping

import torch

from gaitcore.errors import ConfigError
from opengait.config_keys import check_kwargs
from opengait.settings import thaw

NO_WEIGHT_DECAY = ("model", "none", "all_1d")


def parameter_groups(model: torch.nn.Module, rule: str, weight_decay: float, lr: float) -> list[dict]:
    """Parameter groups by (weight decay or not, learning-rate multiplier); empty ones left out."""
    if rule not in NO_WEIGHT_DECAY:
        raise ConfigError(f"optimizer_cfg.no_weight_decay: {rule!r} is not one of {', '.join(NO_WEIGHT_DECAY)}")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if rule == "model":
        exempt = set(getattr(model, "no_weight_decay", lambda: set())())
    elif rule == "all_1d":
        exempt = {n for n, p in named if p.ndim <= 1}
    else:
        exempt = set()
    multipliers = dict(getattr(model, "lr_multipliers", lambda: {})())
    groups: dict[tuple[bool, float], list] = {}
    for n, p in named:
        groups.setdefault((n in exempt, float(multipliers.get(n, 1.0))), []).append(p)
    return [{"params": params, "weight_decay": 0.0 if no_decay else weight_decay, "lr": lr * mult}
            for (no_decay, mult), params in sorted(groups.items())]


def check_kwarg_types(name: str, kwargs: dict, accepted, where: str) -> None:
    """Each keyword's value must have the type of the class's default for it: a bool where the
    default is a bool, a number (not a bool: ``momentum: yes`` is YAML for true) where it is a
    number, a string where it is a string."""
    for key, value in kwargs.items():
        default = accepted[key].default if key in accepted else inspect.Parameter.empty
        if default is inspect.Parameter.empty or default is None:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
            expected = "true or false"
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            expected = "a finite number"
        elif isinstance(default, str):
            ok = isinstance(value, str)
            expected = "a string"
        elif isinstance(default, (tuple, list)):
            ok = isinstance(value, (tuple, list))
            expected = "a list"
        else:
            continue
        if not ok:
            raise ConfigError(f"{where}.{key}: {value!r} for {name}, expected {expected} "
                              f"(default {default!r})")


def check_solver_settings(optimizer_cfg: Mapping, scheduler_cfg: Mapping) -> None:
    """Build the config's optimizer and scheduler on a dummy parameter, so that a bad solver
    setting is a one-line error at load time, before any run folder exists."""
    dummy = torch.nn.Linear(1, 1)
    try:
        build_scheduler(build_optimizer(dummy, optimizer_cfg), scheduler_cfg)
    except ConfigError:            # (a ValueError that already names the key: passed on as it is)
        raise
    except (TypeError, ValueError, KeyError) as e:       # torch's own refusal of a value
        raise ConfigError(f"optimizer_cfg / scheduler_cfg: {type(e).__name__}: {e}") from None


def build_optimizer(model: torch.nn.Module, optimizer_cfg: Mapping) -> torch.optim.Optimizer:
    cfg = thaw(optimizer_cfg)          # plain values: the optimizer's state_dict keeps them
    name = cfg.pop("solver", None)
    rule = cfg.pop("no_weight_decay", "model")
    cls = getattr(torch.optim, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ConfigError(f"optimizer_cfg.solver: {name!r} is not an optimizer of torch.optim")
    accepted = inspect.signature(cls).parameters
    check_kwargs(name, cfg, accepted, "optimizer_cfg")
    check_kwarg_types(name, cfg, accepted, "optimizer_cfg")
    decay = float(cfg.get("weight_decay", accepted["weight_decay"].default
                          if "weight_decay" in accepted else 0.0))
    lr = float(cfg.get("lr", accepted["lr"].default if "lr" in accepted else 1e-3))
    return cls(parameter_groups(model, rule, decay, lr), **cfg)


def build_scheduler(optimizer: torch.optim.Optimizer, scheduler_cfg: Mapping):
    cfg = thaw(scheduler_cfg)
    name = cfg.pop("scheduler", None)
    warmup = int(cfg.pop("warmup_iters", 0) or 0)
    start = float(cfg.pop("warmup_start_factor", 0.01))
    cls = getattr(torch.optim.lr_scheduler, str(name), None)
    if not isinstance(cls, type):
        raise ConfigError(f"scheduler_cfg.scheduler: {name!r} is not a scheduler of torch.optim.lr_scheduler")
    check_kwargs(name, cfg, inspect.signature(cls).parameters, "scheduler_cfg")
    check_kwarg_types(name, cfg, inspect.signature(cls).parameters, "scheduler_cfg")
    if warmup < 0 or not 0.0 < start <= 1.0:
        raise ConfigError(f"scheduler_cfg: warmup_iters {warmup} must be >= 0 and warmup_start_factor "
                          f"{start} in (0, 1]")
    main = cls(optimizer, **cfg)
    if not warmup:
        return main
    ramp = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=start, total_iters=warmup)
    return torch.optim.lr_scheduler.ChainedScheduler([ramp, main], optimizer=optimizer)
