"""Seeds derived from names, identical on every machine and Python run (unlike ``hash()``)."""
from __future__ import annotations

import hashlib


def stable_int(*parts) -> int:
    """A 32-bit integer from the given strings/numbers."""
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:4], "big")
