"""YAML as every config of the project reads it: safe (no tag builds a Python object) and strict
(a mapping naming one key twice is an error naming the key and both lines; plain YAML would keep
the last value silently)."""
from __future__ import annotations

import yaml


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names one key twice."""


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue                     # an unhashable key: the base class reports it
            if key in seen:
                raise DuplicateKeyError(f"{self.name}: key {key!r} appears twice in one mapping, on line "
                                        f"{seen[key] + 1} and line {key_node.start_mark.line + 1} (YAML would "
                                        "keep the last value silently); keep one")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, name: str = "<string>"):
    """The YAML document in ``text`` (``name`` is used in messages)."""
    loader = _UniqueKeyLoader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def yaml_problem(error: yaml.YAMLError) -> str:
    """A one-line description of a YAML error (its message alone for a duplicate key)."""
    return str(error) if isinstance(error, DuplicateKeyError) else " ".join(str(error).split())
