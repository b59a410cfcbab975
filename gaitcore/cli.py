"""Shared script plumbing: logging set-up and clean exits for expected bad input.

Every script of the project ends with ``raise SystemExit(run_script(main, parse_args()))``
(or the equivalent): expected problems (a missing file, a malformed dataset, a bad option)
print one line naming the file and the reason and exit with status 2, without a traceback.
"""
from __future__ import annotations

import argparse
import errno
import logging
import pickle
import sys
from typing import Any, Callable

from gaitcore.errors import UserInputError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# Exceptions that mean "bad input", shown as one line instead of a traceback: the project's own
# family (gaitcore/errors.py: config, checkpoint, layout, model-file and record errors) and the
# operating system's and pickle's reports of a missing, unreadable or unsafe file.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    UserInputError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError,
    pickle.UnpicklingError)


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts and sizes: a whole number >= 1 (refused while parsing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


DEVICE_HELP = "auto (the default: CUDA if present, else CPU), cpu, cuda, cuda:1, ..."


def resolve_device_name(name: str) -> str:
    """The device a ``--device`` option means: ``auto`` is ``cuda`` when PyTorch sees a CUDA GPU,
    else ``cpu``; any other name is returned as given."""
    if name != "auto":
        return name
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def setup_logging(verbose: bool = False) -> None:
    """Log INFO (or DEBUG with ``verbose``) to stderr in one format for all scripts."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT,
                        datefmt="%H:%M:%S", force=True)


def run_script(main: Callable[[Any], int | None], args: Any,
               expected: tuple[type[BaseException], ...] = EXPECTED_ERRORS) -> int:
    """Call ``main(args)``; turn expected errors into a one-line message and exit code 2."""
    try:
        return int(main(args) or 0)
    except expected as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"error: no space left on the device while writing {e.filename or 'an output'}: nothing already "
              "written was lost (every output is written to a temporary file and renamed into place); free "
              "space and run the same command again to finish", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished outputs are kept; re-run to complete the rest",
              file=sys.stderr)
        return 130
