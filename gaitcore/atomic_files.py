"""Atomic file and folder writes: a temp name in the same folder, then one rename.

A reader never sees a half-written file: either the old content or the new one. If the
writer raises (or is interrupted with Ctrl-C), the temp file is removed and the old file is
left as it was. A process killed with SIGKILL can leave a temp file behind; temp names start
with ``.`` and end with ``.tmp`` so every scanner of this project skips them, and
:func:`remove_stale_temps` cleans them up.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Temp files and folders are created private (0600 / 0700); an output gets the mode a plain
# open() / mkdir() would have given it under the process's umask, so that a dataset prepared
# by one user stays readable by the others, as with any other tool.
FILE_MODE = 0o666 & ~_umask()
FOLDER_MODE = 0o777 & ~_umask()


def is_temp_name(name: str) -> bool:
    """True for names made by this module (hidden, with ``.tmp`` before any extension)."""
    return name.startswith(".") and (name.endswith(TEMP_SUFFIX) or f"{TEMP_SUFFIX}." in name)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[BinaryIO]:
    """Open a temp file next to ``path``; on a clean exit rename it onto ``path``.

    On an exception the temp file is deleted and ``path`` is untouched.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open supports 'wb' and 'w', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _raise_disk_full(e, path)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path (same folder, same extension) for writers that need a file name,
    such as ``cv2.VideoWriter``; on a clean exit it is renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=TEMP_SUFFIX + path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        if not os.path.exists(tmp) or os.path.getsize(tmp) == 0:
            raise OSError(f"{path}: the writer produced no data")
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _raise_disk_full(e, path)
        raise


class DiskFullError(OSError):
    """The device filled up while writing ``filename`` (its temp file was removed, the earlier
    contents of ``filename``, if any, are untouched)."""


def _raise_disk_full(error: BaseException, path: Path) -> None:
    """Re-raise an out-of-space error as :class:`DiskFullError` naming the output's own path
    (not its temp file's)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT) \
            and not isinstance(error, DiskFullError):
        raise DiskFullError(error.errno, os.strerror(error.errno), str(path)) from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_report(path: str | os.PathLike, markdown: str | list[str], data) -> None:
    """A Markdown report (text or lines) at ``path`` and its data as JSON beside it
    (``<path>.json`` in place of the suffix), each written atomically."""
    text = markdown if isinstance(markdown, str) else "\n".join(markdown)
    atomic_write_text(path, text.rstrip("\n") + "\n")
    atomic_write_text(Path(path).with_suffix(".json"), json.dumps(data, indent=1) + "\n")


def atomic_write_folder(folder: str | os.PathLike, fill: Callable[[Path], None],
                        overwrite: bool = False) -> None:
    """Build a folder in a temp sibling with ``fill(tmp_dir)``, then rename it into place.

    The folder appears complete or not at all. With ``overwrite`` an existing folder is
    swapped out (renamed aside, the new one renamed in, the old one deleted); without it an
    existing folder raises ``FileExistsError`` and nothing is changed.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists() and not overwrite:
        raise FileExistsError(f"{folder}: already exists (pass overwrite=True to replace it)")
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=TEMP_SUFFIX))
    try:
        fill(tmp)
        os.chmod(tmp, FOLDER_MODE)
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old.",
                                        suffix=TEMP_SUFFIX))
            os.rmdir(old)
            os.rename(folder, old)
            os.rename(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_files(folder: str | os.PathLike, files: dict[str, bytes],
                       overwrite: bool = False) -> None:
    """Write a folder holding exactly ``files`` (name -> bytes), atomically as a whole."""
    def fill(tmp: Path) -> None:
        for name, data in files.items():
            (tmp / name).write_bytes(data)

    atomic_write_folder(folder, fill, overwrite=overwrite)


def remove_stale_temps(folder: str | os.PathLike, target_name: str | None = None) -> int:
    """Delete temp files/folders left in ``folder`` by a killed writer; return how many.

    With ``target_name`` only the temps belonging to that file or folder name are removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in os.scandir(folder):
        if not is_temp_name(entry.name):
            continue
        if target_name is not None and not entry.name.startswith(f".{target_name}."):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        removed += 1
    return removed


class FolderLockedError(OSError):
    """Another process holds the lock (the message names the lock file and the holder's pid)."""


class FolderLock:
    """An exclusive, advisory lock held while a process writes into a folder: ``fcntl.flock`` on
    a lock file that records the holder's pid. The operating system releases it when the
    process ends, however it ends, so a killed run never leaves a stale lock behind."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._file = None

    def acquire(self) -> "FolderLock":
        import fcntl
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise FolderLockedError(f"{self.path}: held by process {holder}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()          # closing drops the flock
            self._file = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
