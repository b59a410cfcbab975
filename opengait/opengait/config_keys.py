"""Checking a named component's settings against the keys it takes (one-line errors that
suggest the closest key). Imported by the components (models, losses, transforms, solvers)
and by :mod:`opengait.config`, which runs their checks when a config is loaded."""
from __future__ import annotations

import difflib
from typing import Iterable

from gaitcore.errors import ConfigError


def suggest(key: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options``, or an empty string."""
    close = difflib.get_close_matches(key, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_kwargs(name: str, kwargs: dict, accepted: Iterable[str], where: str) -> None:
    """Raise ConfigError naming the first key of ``kwargs`` that ``name`` does not take."""
    accepted = set(accepted)
    for key in kwargs:
        if key not in accepted:
            raise ConfigError(f"{where}: {name} has no setting '{key}'{suggest(key, accepted)}")
