"""The project's one restricted unpickler for dataset ``.pkl`` files.

``pickle.load`` runs whatever a file tells it to import and call. Dataset files come from
other people, so every ``.pkl`` read in this project goes through :func:`load_pickle`, which
accepts numpy arrays, numpy scalars/dtypes and plain containers and scalars only. A pickle that
names any other global (``os.system``, ``builtins.eval``, a class of some package ...) is
refused before anything is called.
"""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any, Callable

# (module, name) pairs a numpy array / scalar / plain-container pickle needs. numpy 2 writes
# ``numpy._core``; numpy 1 (and OpenGait's published files) write ``numpy.core``.
_ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [(core, name) for core in ("numpy.core.multiarray", "numpy._core.multiarray")
     for name in ("_reconstruct", "scalar")]
    + [(core, "_frombuffer") for core in ("numpy.core.numeric", "numpy._core.numeric")]
    + [("numpy", "ndarray"), ("numpy", "dtype")]
    # Protocol-2 pickles encode bytes as _codecs.encode(text, 'latin1').
    + [("_codecs", "encode")]
    # Protocol < 3 names the builtins module "__builtin__" (Python 2 spelling).
    + [(module, name) for module in ("builtins", "__builtin__")
       for name in ("set", "frozenset", "complex", "slice", "bytearray")]
    + [("collections", "OrderedDict")]
)


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the allowed numpy/plain-container set."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS or (
                module == "numpy.dtypes" and name.endswith("DType")):
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"global '{module}.{name}' is not allowed (only numpy arrays and plain "
            "containers/scalars can be loaded)")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("persistent ids are not allowed")


class _PayloadSkippingReader(io.RawIOBase):
    """A file for the unpickler that seeks over large byte payloads instead of reading them
    (protocol 4/5 numpy pickles hand their array bytes to ``readinto``); a payload the file
    is too short for comes back short, so a cut file still fails."""

    def __init__(self, f, size: int, threshold: int = 4096):
        self.f, self.size, self.threshold = f, size, threshold

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self.f.read(n)

    def readline(self, limit: int = -1) -> bytes:
        return self.f.readline(limit)

    def readinto(self, buf) -> int:
        n = len(buf)
        if n < self.threshold:
            return self.f.readinto(buf)
        pos = self.f.tell()
        available = max(0, min(n, self.size - pos))
        self.f.seek(pos + available)
        return available


def peek_pickle(path: str | os.PathLike) -> Any:
    """Like :func:`load_pickle`, but large array payloads are skipped on disk, not read: the
    shapes, dtypes and structure are right, the values of big arrays are undefined. For
    checking many files cheaply (a cut or corrupt file still raises)."""
    def read():
        with open(path, "rb") as f:
            return _RestrictedUnpickler(_PayloadSkippingReader(f, os.fstat(f.fileno()).st_size)).load()
    return _named_errors(path, read)


def loads_pickle(data: bytes) -> Any:
    """Unpickle ``data`` with the restricted unpickler."""
    return _RestrictedUnpickler(io.BytesIO(data)).load()


def load_pickle(path: str | os.PathLike) -> Any:
    """Load a ``.pkl`` file with the restricted unpickler.

    Raises ``UnsafePickleError`` (naming the file) for a forbidden global and
    ``pickle.UnpicklingError`` for a truncated or corrupt file; nothing in the file runs.
    """
    data = Path(path).read_bytes()
    return _named_errors(path, lambda: loads_pickle(data))


def _named_errors(path: str | os.PathLike, read: Callable[[], Any]) -> Any:
    """``read()``, with any unpickling failure re-raised as one message naming ``path``."""
    try:
        return read()
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{path}: refused to load: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, ImportError) as e:
        raise pickle.UnpicklingError(
            f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None


def dumps_pickle(obj: Any) -> bytes:
    """Pickle with protocol 4, readable by Python ≥ 3.4 and by OpenGait's loader."""
    return pickle.dumps(obj, protocol=4)
