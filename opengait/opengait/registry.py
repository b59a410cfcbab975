"""Named building blocks chosen by the YAML config: models, losses, transforms, evaluators.

One mechanism for all four. A module registers what it defines with ``@REGISTRY.register()``
(under the object's ``__name__`` and any aliases); a lookup by name first imports the registry's
own modules (lazily, so a broken optional dependency of one model cannot stop the others) and
the *installed plugins*: modules that installed packages declare in the entry-point group
``hybridgait.plugins`` of their metadata (this project declares ``ccvid =
opengait_ccvid.ccvid_evaluator``, which adds ``evaluate_ccvid``). A config's ``plugins`` list may
only name installed plugins (by entry-point name or module): a config file never makes Python
import a module of its choosing, such as a ``.py`` in the working folder. An unknown name is a
:class:`~gaitcore.errors.ConfigError` that lists the known ones and suggests the closest.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, Iterable

from gaitcore.errors import ConfigError


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
        load_installed_plugins()

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


PLUGIN_GROUP = "hybridgait.plugins"
_plugins_loaded = False


def installed_plugins() -> dict[str, str]:
    """``{entry-point name: module}`` of every installed plugin."""
    from importlib.metadata import entry_points
    return {ep.name: ep.value.split(":")[0] for ep in entry_points(group=PLUGIN_GROUP)}


def load_installed_plugins() -> None:
    """Import every installed plugin's module once (they register their building blocks)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for name, module in installed_plugins().items():
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ConfigError(f"installed plugin {name!r} ({module}) cannot be imported: {e}") from None


def load_plugins(names: Iterable[str] | None, where: str = "plugins") -> None:
    """Check the config's ``plugins``: each entry names an installed plugin (its entry-point
    name or its module); their modules are imported. Anything else is refused, not imported."""
    installed = installed_plugins()
    for name in names or ():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: each entry must be a plugin name, got {name!r}")
        module = installed.get(name) or (name if name in installed.values() else None)
        if module is None:
            known = ", ".join(f"{k} ({v})" for k, v in sorted(installed.items())) or "none"
            raise ConfigError(f"{where}: {name!r} is not an installed plugin (installed: {known}); a config "
                              f"may only name plugins that an installed package declares in the entry-point "
                              f"group {PLUGIN_GROUP}")
        importlib.import_module(module)
    load_installed_plugins()
