"""The trainer's error for configuration problems, in a module of its own so that the config
loader and the registries it consults both import it without importing each other."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem; the message names the file and the key."""
