"""Which frames of a sequence a batch uses (OpenGait's ``sample_type``s).

Every function returns indices into the sequence's frames. Ordered samplers return them in
increasing order; unordered ones in random order. The indices travel with the batch, so a model
can always recover the frames' original temporal order (HybridGait's ΔJoint needs it).
"""
from __future__ import annotations

import numpy as np

SAMPLE_TYPES = ("fixed_ordered", "fixed_unordered", "unfixed_ordered", "unfixed_unordered",
                "all_ordered")


def fixed_unordered(n_frames: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` frames at random (with replacement only if the sequence is shorter)."""
    return rng.choice(n_frames, size=count, replace=n_frames < count)


def fixed_ordered(n_frames: int, count: int, skip: int, rng: np.random.Generator) -> np.ndarray:
    """A random window of ``count + skip`` consecutive frames, ``skip`` of them left out at
    random, in order. A sequence shorter than the window is repeated end to end first."""
    window = count + skip
    frames = np.arange(n_frames)
    if n_frames < window:
        frames = np.tile(frames, int(np.ceil(window / n_frames)))
    start = int(rng.integers(0, len(frames) - window + 1))
    chosen = np.sort(rng.choice(window, size=count, replace=False))
    return frames[start + chosen]


FRAMES_ALL_SELECT = ("first", "evenly_spaced")


def all_ordered(n_frames: int, limit: int | None, select: str = "first") -> np.ndarray:
    """Every frame in order; beyond ``limit`` frames, the first ``limit`` (OpenGait's rule) or,
    with ``select="evenly_spaced"``, ``limit`` frames spread over the whole sequence."""
    if select not in FRAMES_ALL_SELECT:
        raise ValueError(f"frames_all_select: {select!r} is not one of {', '.join(FRAMES_ALL_SELECT)}")
    if limit is None or limit <= 0 or n_frames <= limit:
        return np.arange(n_frames)
    if select == "first":
        return np.arange(limit)
    return np.unique(np.round(np.linspace(0, n_frames - 1, limit)).astype(np.int64))


def sample_frames(n_frames: int, sampler_cfg: dict, rng: np.random.Generator,
                  count: int | None = None) -> np.ndarray:
    """Indices for one sequence. ``count`` is the frame count drawn for the whole batch by the
    ``unfixed_*`` types (see :func:`batch_frame_count`)."""
    kind = sampler_cfg["sample_type"]
    if n_frames < 1:
        raise ValueError("cannot sample frames from an empty sequence")
    if kind == "all_ordered":
        return all_ordered(n_frames, sampler_cfg.get("frames_all_limit"),
                           sampler_cfg.get("frames_all_select") or "first")
    if kind.startswith("fixed"):
        count = int(sampler_cfg["frames_num_fixed"])
    elif count is None:
        raise ValueError(f"{kind} needs the batch's frame count")
    if kind.endswith("_unordered"):
        return fixed_unordered(n_frames, count, rng)
    if kind.endswith("_ordered"):
        skip = int(sampler_cfg.get("frames_skip_num") or 0) if kind == "fixed_ordered" else 0
        return fixed_ordered(n_frames, count, skip, rng)
    raise ValueError(f"unknown sample_type {kind!r} (one of {', '.join(SAMPLE_TYPES)})")


def batch_frame_count(sampler_cfg: dict, rng: np.random.Generator) -> int | None:
    """The frame count of an ``unfixed_*`` batch, drawn in [frames_num_min, frames_num_max]."""
    if not sampler_cfg["sample_type"].startswith("unfixed"):
        return None
    lo, hi = int(sampler_cfg["frames_num_min"]), int(sampler_cfg["frames_num_max"])
    if lo < 1 or hi < lo:
        raise ValueError(f"frames_num_min {lo} / frames_num_max {hi}: need 1 <= min <= max")
    return int(rng.integers(lo, hi + 1))
