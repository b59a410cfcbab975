"""Optimizer and scheduler by name from ``torch.optim`` with YAML keyword arguments."""
from __future__ import annotations

import inspect

import torch

from opengait.config import ConfigError, check_kwargs


def build_optimizer(params, optimizer_cfg: dict) -> torch.optim.Optimizer:
    cfg = dict(optimizer_cfg)
    name = cfg.pop("solver", None)
    cls = getattr(torch.optim, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ConfigError(f"optimizer_cfg.solver: {name!r} is not an optimizer of torch.optim")
    check_kwargs(name, cfg, inspect.signature(cls).parameters, "optimizer_cfg")
    return cls(params, **cfg)


def build_scheduler(optimizer: torch.optim.Optimizer, scheduler_cfg: dict):
    cfg = dict(scheduler_cfg)
    name = cfg.pop("scheduler", None)
    cls = getattr(torch.optim.lr_scheduler, str(name), None)
    if not isinstance(cls, type):
        raise ConfigError(f"scheduler_cfg.scheduler: {name!r} is not a scheduler of torch.optim.lr_scheduler")
    check_kwargs(name, cfg, inspect.signature(cls).parameters, "scheduler_cfg")
    return cls(optimizer, **cfg)
