"""A process pool over work items with one tqdm bar, used by every ``--workers`` option."""
from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator

from tqdm import tqdm


def _exit_with_parent(parent: int) -> None:
    """End this worker when its parent process dies (kill -9 of the parent leaves pool workers
    blocked on their task queue otherwise): the kernel's parent-death signal on Linux, and a
    thread that watches the parent id everywhere."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)           # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:                  # it died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)
    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _init_worker(parent: int) -> None:
    _exit_with_parent(parent)
    import cv2  # one thread per process: the pool supplies the parallelism
    cv2.setNumThreads(1)
    from gaitcore.image_io import set_decode_threads
    set_decode_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def parallel_map(fn: Callable[[Any], Any], items: Iterable[Any], workers: int = 1,
                 desc: str = "", unit: str = "it") -> Iterator[Any]:
    """Yield ``fn(item)`` for every item (in completion order when ``workers > 1``).

    ``fn`` and the items must be picklable for ``workers > 1``. Ctrl-C cancels the items not
    started yet; results already yielded (and whatever ``fn`` wrote) are kept.
    """
    items = list(items)
    bar = tqdm(total=len(items), desc=desc, unit=unit, dynamic_ncols=True)
    try:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                yield fn(item)
                bar.update()
            return
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                 initargs=(os.getpid(),)) as pool:
            pending, queue = set(), iter(items)
            try:
                for item in queue:  # keep at most 2 * workers items in flight
                    pending.add(pool.submit(fn, item))
                    if len(pending) >= 2 * workers:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            bar.update()
                            yield future.result()
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        bar.update()
                        yield future.result()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    finally:
        bar.close()


def default_workers() -> int:
    """Worker processes to use by default: the CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
