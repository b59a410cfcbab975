"""Oracle repairs of a real pose model's keypoints, for the diagnosis only: which part of its
error takes the identity out of the skeleton maps? Each repair uses the generator's exact
keypoints to undo one kind of error and leaves the rest as the model reported it.

- ``swaps``: in each frame, an arm or a leg whose three joints (shoulder, elbow, wrist / hip,
  knee, ankle) lie nearer the other side's exact joints than their own (summed distances) gets
  its left and right labels swapped back;
- ``far``: a joint farther than 0.1 body heights from its exact place (PCK@0.1's miss) is moved
  to the exact place, its confidence kept;
- ``positions``: every joint the image shows is moved to its exact place, the model's confidences
  kept (what the confidences alone do to the maps);
- ``confidences``: every confidence above 0 becomes 1, the model's positions kept (skeleton maps
  draw each joint with its confidence as the peak);
- ``transplant``: not a repair but a control: each sequence gets, frame by frame, the error
  (in body heights) and the confidences the model had on *another* walker's sequence of the same
  type, number and view (the next subject in order, the last taking the first's). The error keeps
  every statistic it had; what it loses is its tie to the walker it was made on. If the identity
  comes back, the model's error is a function of the walker's own pose (it maps different
  walkers' poses alike), which an error drawn independently of the pose cannot imitate.

The body height of a frame is the y extent of the exact joints in the image.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gaitcore.atomic_files import atomic_write_text
from gaitcore.errors import UserInputError
from gaitcore.pose_files import format_pose_json, read_pose_json
from datasets_preprocess.synthetic.pose_error import LEFT_RIGHT_ARMS, LEFT_RIGHT_LEGS

FAR = 0.1
REPAIRS = ("swaps", "far", "positions", "confidences", "transplant")


def undo_swaps(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(T, 17, 3) keypoints with every arm or leg whose labels are crossed swapped back."""
    out = pred.copy()
    for pairs in (LEFT_RIGHT_ARMS, LEFT_RIGHT_LEGS):
        left, right = [p[0] for p in pairs], [p[1] for p in pairs]

        def distance(a, b):
            return np.linalg.norm(pred[:, a, :2] - truth[:, b, :2], axis=-1).sum(1)
        crossed = distance(left, right) + distance(right, left) < distance(left, left) + distance(right, right)
        out[np.ix_(crossed, left + right)] = pred[np.ix_(crossed, right + left)]
    return out


def body_heights(truth: np.ndarray) -> np.ndarray:
    """(T,) y extent of the joints in the image (confidence > 0); 1 where fewer than two are."""
    shown = truth[..., 2] > 0
    y = truth[..., 1]
    top = np.where(shown, y, np.inf).min(1)
    bottom = np.where(shown, y, -np.inf).max(1)
    return np.where(shown.sum(1) >= 2, bottom - top, 1.0)


def replace_far(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(T, 17, 3) keypoints with joints beyond FAR body heights of the truth put on it."""
    out = pred.copy()
    error = np.linalg.norm(pred[..., :2] - truth[..., :2], axis=-1) / body_heights(truth)[:, None]
    far = (error > FAR) & (truth[..., 2] > 0)
    out[..., :2] = np.where(far[..., None], truth[..., :2], pred[..., :2])
    return out


def exact_positions(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(T, 17, 3) keypoints at the exact places of the joints in the image, confidences kept."""
    out = pred.copy()
    out[..., :2] = np.where((truth[..., 2] > 0)[..., None], truth[..., :2], pred[..., :2])
    return out


def full_confidences(pred: np.ndarray) -> np.ndarray:
    out = pred.copy()
    out[..., 2] = np.where(pred[..., 2] > 0, 1.0, 0.0)
    return out


def transplant(own_truth: np.ndarray, donor_pred: np.ndarray, donor_truth: np.ndarray) -> np.ndarray:
    """(T, 17, 3): the own exact keypoints moved by the donor's error frame by frame (the same
    frames; scaled from the donor's body height to the own), with the donor's confidences."""
    own_h, donor_h = body_heights(own_truth), body_heights(donor_truth)
    error = (donor_pred[..., :2] - donor_truth[..., :2]) / donor_h[:, None, None]
    out = own_truth.copy()
    out[..., :2] = own_truth[..., :2] + error * own_h[:, None, None]
    out[..., 2] = donor_pred[..., 2]
    return out


def donor_name(name: str, subjects: list[str]) -> str:
    """The sequence whose error a ``transplant`` gives ``name`` (``sid-type-nn-view.json``): the
    next subject's of the same type, number and view."""
    sid, rest = name.split("-", 1)
    return f"{subjects[(subjects.index(sid) + 1) % len(subjects)]}-{rest}"


def repair(pred: np.ndarray, truth: np.ndarray, what: tuple[str, ...]) -> np.ndarray:
    unknown = set(what) - set(REPAIRS)
    if unknown:
        raise UserInputError(f"unknown keypoint repair {', '.join(sorted(unknown))} (known: {', '.join(REPAIRS)})")
    if "swaps" in what:
        pred = undo_swaps(pred, truth)
    if "far" in what:
        pred = replace_far(pred, truth)
    if "positions" in what:
        pred = exact_positions(pred, truth)
    if "confidences" in what:
        pred = full_confidences(pred)
    return pred


def repair_folder(estimated: Path, truth: Path, out: Path, what: tuple[str, ...]) -> dict[str, int]:
    """Repair every pose JSON of ``estimated`` against the same-named file of ``truth`` (frames
    matched by number) into ``out``; files already written are kept."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {"written": 0, "already_done": 0, "no_donor": 0}
    paths = sorted(Path(estimated).glob("*.json"))
    subjects = sorted({p.name.split("-")[0] for p in paths})
    for path in tqdm(paths, desc=f"repairing ({'+'.join(what)})", unit="seq"):
        target = out / path.name
        if target.exists():
            counts["already_done"] += 1
            continue
        doc = json.loads(path.read_text())
        if "transplant" in what:                    # a control, never combined (study.pipelines)
            donor = Path(estimated) / donor_name(path.name, subjects)
            if not donor.is_file():
                counts["no_donor"] += 1
                continue
            donor_frames, donor_pred, donor_exact = _matched(donor, Path(truth))
            own_frames, own_exact = read_pose_json(Path(truth) / path.name)
            own_index = {int(n): i for i, n in enumerate(own_frames)}
            keep = [i for i, n in enumerate(donor_frames) if int(n) in own_index]
            frames = donor_frames[keep]
            exact = own_exact[[own_index[int(n)] for n in frames]]
            fixed = transplant(exact, donor_pred[keep], donor_exact[keep])
        else:
            frames, pred, exact = _matched(path, Path(truth))
            fixed = repair(pred, exact, what) if len(frames) else pred
        size = tuple(doc["image_size"]) if "image_size" in doc else None
        atomic_write_text(target, format_pose_json(fixed, frames, size,
                                                   {"model": doc.get("model"), "repaired": list(what)}))
        counts["written"] += 1
    return counts


def _matched(path: Path, truth: Path):
    """A model's pose file: its frame numbers, keypoints, and the exact keypoints at those frames."""
    frames, pred = read_pose_json(path)
    truth_frames, exact = read_pose_json(truth / path.name)
    index = {int(n): i for i, n in enumerate(truth_frames)}
    missing = [int(n) for n in frames if int(n) not in index]
    if missing:
        raise UserInputError(f"{path}: frames {missing[:5]} have no exact keypoints in {truth}")
    return frames, pred, exact[[index[int(n)] for n in frames]]
