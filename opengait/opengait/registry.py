"""Named building blocks chosen by the YAML config: models, losses, transforms, evaluators.

One mechanism for all four. A module registers what it defines with ``@REGISTRY.register()``
(under the object's ``__name__`` and any aliases); a lookup by name first imports the registry's
own modules (lazily, so a broken optional dependency of one model cannot stop the others) and
the config's ``plugins`` -- modules outside this package that register more, e.g.
``opengait_ccvid.ccvid_evaluator`` adds ``evaluate_ccvid``. An unknown name is a
:class:`~opengait.config.ConfigError` that lists the known ones and suggests the closest.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, Iterable

from opengait.config import ConfigError


class Registry:
    """Objects of one kind by name. ``where`` is the config key that names them (for errors)."""

    def __init__(self, kind: str, where: str, modules: Iterable[str] = ()):
        self.kind, self.where, self.modules = kind, where, tuple(modules)
        self._items: dict[str, Any] = {}

    def register(self, *aliases: str, value: Callable[[Any], Any] | None = None,
                 own_name: bool = True):
        """Decorator: register the object under its ``__name__`` (unless ``own_name`` is false)
        and ``aliases``; ``value`` turns the decorated object into what is stored (e.g. an
        evaluator with its settings check)."""
        def wrap(obj):
            stored = value(obj) if value else obj
            for name in ((obj.__name__,) if own_name else ()) + aliases:
                if name in self._items and self._items[name] is not stored:
                    raise ValueError(f"{self.kind} name {name!r} is registered twice")
                self._items[name] = stored
            return obj
        return wrap

    def load(self) -> None:
        for module in self.modules:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as e:
                if e.name != module:          # the module itself is there; a dependency is not
                    raise

    def names(self) -> list[str]:
        self.load()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self.load()
        return name in self._items

    def get(self, name: str, where: str | None = None) -> Any:
        self.load()
        if name not in self._items:
            close = difflib.get_close_matches(str(name), self._items, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where or self.where}: unknown {self.kind} {name!r} "
                              f"(known: {', '.join(sorted(self._items))}){hint}")
        return self._items[name]


def load_plugins(modules: Iterable[str] | None, where: str = "plugins") -> None:
    """Import the config's ``plugins`` (module names), which register more building blocks."""
    for module in modules or ():
        if not isinstance(module, str) or not module:
            raise ConfigError(f"{where}: each entry must be a module name, got {module!r}")
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            raise ConfigError(f"{where}: cannot import {module!r} ({e})") from None
