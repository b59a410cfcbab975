"""This process's resident memory, read from ``/proc`` (Linux): now, and its peak since a reset.

``getrusage``'s ``ru_maxrss`` cannot measure one step or one part of a benchmark: it is the
peak of the whole life of the process, and a child process carries over the resident set its
parent had when it forked (or vforked and exec'd). ``VmHWM`` after a reset through
``/proc/self/clear_refs`` is the peak of this process's own memory from that moment on.
"""
from __future__ import annotations

import os


def rss_bytes() -> int:
    """The resident set now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> None:
    """Start the peak-resident-set count afresh (Linux >= 4.0; elsewhere nothing happens and the
    peak is that of the whole process)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_bytes() -> int:
    """The peak resident set since :func:`reset_peak_rss` (or since the process started)."""
    return _status_kib("VmHWM") * 1024
