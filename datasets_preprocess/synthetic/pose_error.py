"""How a pose estimator errs, as a model the generator applies to its exact keypoints.

The written keypoints of a synthetic walk are ground truth unless ``--keypoint-noise`` asks for
an error model (``none``: exact; a number: the first version's i.i.d. Gaussian error of that
many body heights per joint and frame; ``estimator``: the structured model below, calibrated
against the real yolo11n-pose on synthetic frames by ``benchmarks/bench_synthetic_realism.py``;
``estimator,<name>=<value>,...`` changes single parameters). Real estimators err in
structured ways, so the model has these parts (distances in body heights, per joint):

- ``jitter``: independent error per frame;
- ``drift`` / ``drift_corr``: an error that wanders slowly over the frames (AR(1), stationary
  std ``drift``, correlation ``drift_corr`` from one frame to the next);
- ``wander`` / ``wander_corr``: a second, quicker AR(1) error (stationary std ``wander``,
  correlation ``wander_corr`` from one frame to the next): a real estimator's error within a
  sequence follows the body for a few frames rather than flickering from frame to frame
  (yolo11n-pose on population 110: its near error, less its sequence mean, correlates 0.54
  between consecutive frames; an independent jitter gives about 0);
- ``shrink_x``, ``shrink_arm_y``, ``shrink_leg_y``: a real estimator under-reports how far the
  limbs move: of each joint's motion about its mean place over the sequence (relative to the
  hip centre, in body heights) it reports only ``1 - shrink`` -- horizontally for every joint,
  vertically for the elbows and wrists (``shrink_arm_y``) and the knees and ankles
  (``shrink_leg_y``). yolo11n-pose on the synthetic walks keeps about four fifths of the limbs'
  horizontal motion and two thirds of their vertical motion; gait identity lives in that motion;
- ``pull_x``, ``pull_y``, ``pull_hips``: a real estimator also reports a walker closer to the
  others than it is: of each frame's departure from its *template* -- the mean pose of the
  nearest frames of other walkers seen from the same view (relative to the hip centre, in the
  sequence's median body height; :func:`template_departures`) -- it gives up this share,
  horizontally and vertically for every joint but the hips, and in both directions for the hips
  (``pull_hips``: an estimator places hips where bodies usually have them, whatever the
  walker's build). The error is then a function of the walker's own pose, not drawn apart from
  it: yolo11n-pose's error, given to another walker, costs a skeleton model far less identity
  than on its own walker. The template needs the population, so this part is applied by
  apply_keypoint_error.py, which reads every sequence's exact keypoints first;
- ``bias``: a constant offset per sequence and joint, drawn anew for every sequence;
- ``bias_global``, ``bias_view``, ``bias_person``, ``bias_person_view``, ``bias_clothes``:
  constant offsets per joint shared more widely: by every sequence (where the estimator puts a
  joint against the skeleton's definition of it), by every person seen from one view (its habit
  at that angle), by every sequence of one person, by one person's sequences from one view, and
  by one person's sequences from one view in one set of clothes. A real estimator errs alike on the
  same person in the same clothes from the same view; how much of the constant error each level
  shares is measured on yolo11n-pose by ``benchmarks/bench_synthetic_realism.py`` (the
  correlation of the per-sequence mean error between two sequences);
- ``swap_rate`` / ``swap_frames``: left/right confusion: a run of frames (mean length
  ``swap_frames``) in which a limb pair -- both arms or both legs -- trades sides;
  ``coat_swap`` adds to the legs' rate under a coat; ``swap_view`` makes the rate depend on the
  view as a real estimator's does, which confuses left and right mostly when the walker faces
  the camera and hardly ever from behind: the rates are multiplied by
  ``max(0, 1 + swap_view * cos(view))`` (0 degrees = facing the camera);
- ``coat_error`` / ``coat_miss`` and ``bag_error`` / ``bag_miss``: joints under a coat (hips,
  knees) or next to a bag (its side's hip and wrist) get an extra offset of this std (mostly
  per sequence: the estimator keeps guessing the hidden joint in the same wrong place), or are lost (confidence 0) with this probability per frame; both
  grow by ``frontal_gain`` x |cos(view)| towards frontal and back views, where a coat hides the
  legs' outline;
- ``outlier_rate`` / ``outlier_error`` / ``outlier_frames``: a joint misplaced far (an offset
  of std ``outlier_error``) for a run of frames (mean length ``outlier_frames``) that starts
  with this probability per joint and frame;
- ``miss_rate``: any joint lost (confidence 0) with this probability per frame.

Confidences of joints moved far (more than 0.1 body heights) drop to 0.3-0.6, as an
estimator's do for doubtful joints; lost joints get confidence 0. With ``conf_visible`` > 0 the
model reports its own confidences instead of the generator's (which are drawn anew every frame:
0.8-1.0 visible, 0.3-0.6 hidden): ``conf_visible`` for visible joints, ``conf_hidden`` for hidden
ones and at most ``conf_hidden`` for joints moved far, plus a slowly wandering wobble (AR(1), std
``conf_wobble``, frame-to-frame correlation ``drift_corr``), smoothed over time by an exponential
filter run forwards and backwards with weight ``conf_smooth`` on the neighbouring frame. A real
estimator's confidence changes little from one frame to the next (yolo11n-pose on the synthetic
walks: mean |change| 0.05 against the generator's 0.10), and skeleton maps draw each joint with
its confidence as the peak, so a flickering confidence is a flickering map.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

LEFT_RIGHT_ARMS = ((5, 6), (7, 8), (9, 10))
LEFT_RIGHT_LEGS = ((11, 12), (13, 14), (15, 16))
HIPS = (11, 12)
ARM_JOINTS = (7, 8, 9, 10)        # elbows, wrists
LEG_JOINTS = (13, 14, 15, 16)     # knees, ankles
COAT_COVERED = (11, 12, 13, 14)
BAG_COVERED = {1: (11, 9), -1: (12, 10)}      # shoulder bag side -> (hip, wrist)


@dataclass(frozen=True)
class PoseErrorModel:
    jitter: float = 0.0
    drift: float = 0.0
    drift_corr: float = 0.9
    wander: float = 0.0
    wander_corr: float = 0.5
    shrink_x: float = 0.0
    shrink_arm_y: float = 0.0
    shrink_leg_y: float = 0.0
    pull_x: float = 0.0
    pull_y: float = 0.0
    pull_hips: float = 0.0
    bias: float = 0.0
    swap_rate: float = 0.0
    swap_frames: float = 3.0
    coat_swap: float = 0.0
    swap_view: float = 0.0
    coat_error: float = 0.0
    coat_miss: float = 0.0
    bag_error: float = 0.0
    bag_miss: float = 0.0
    frontal_gain: float = 0.0
    outlier_rate: float = 0.0
    outlier_error: float = 0.15
    outlier_frames: float = 3.0
    miss_rate: float = 0.0
    bias_global: float = 0.0
    bias_view: float = 0.0
    bias_person: float = 0.0
    bias_person_view: float = 0.0
    bias_clothes: float = 0.0
    conf_visible: float = 0.0   # 0: keep the generator's confidences (see the module docstring)
    conf_hidden: float = 0.5
    conf_wobble: float = 0.0
    conf_smooth: float = 0.0
    iid: bool = False           # the first version's model: i.i.d. jitter only, its own draws

    def needs_population(self) -> bool:
        """The pull towards the other walkers needs their poses (template_departures)."""
        return bool(self.pull_x or self.pull_y or self.pull_hips)

    def is_exact(self) -> bool:
        return not any(v for k, v in asdict(self).items()
                       if k not in ("drift_corr", "wander_corr", "swap_frames", "outlier_error", "outlier_frames", "iid",
                                    "swap_view", "conf_hidden", "conf_smooth"))


# Calibrated against yolo11n-pose on synthetic CASIA-B frames (bench_synthetic_realism.py).
# ``estimator`` is study v2's model (every constant error drawn per sequence), kept as it was so
# that its data regenerate byte for byte.
ESTIMATOR = PoseErrorModel(jitter=0.005, drift=0.015, drift_corr=0.97, bias=0.02, swap_rate=0.045,
                           swap_frames=5.0, coat_swap=0.3, coat_error=0.025, coat_miss=0.1,
                           bag_error=0.02, bag_miss=0.02, frontal_gain=1.0, outlier_rate=0.012,
                           outlier_error=0.15, outlier_frames=3.0, miss_rate=0.005)
# ``estimator_v3``: the same parts, with the constant error split into the shared levels so that,
# on yolo11n-pose's own errors on the same rendered walks, the share a second sequence carries
# matches (the cosine of the per-sequence mean errors outside swapped frames: same person,
# clothes and view 0.73 real / 0.74 model; same person other clothes 0.47 / 0.39; same person
# other view 0.39 / 0.38; other person same view 0.54 / 0.53; other person other view 0.32 /
# 0.30), and left/right swaps made frequent facing the camera and rare from behind, as
# yolo11n-pose's are (benchmarks/bench_synthetic_realism.py; docs/synthetic-data.md, "The embedded synthetic
# dataset").
ESTIMATOR_V3 = replace(ESTIMATOR, jitter=0.006, drift=0.006, bias=0.004, bias_global=0.019, bias_view=0.014,
                       bias_person=0.009, bias_clothes=0.008, swap_view=1.0)
# ``estimator_v4``: estimator_v3 recalibrated on wardrobe v4 against yolo11n-pose on the same
# rendered walks (benchmarks/results/synthetic_realism_v4.md; docs/synthetic-data.md). v3's
# skeleton maps changed from frame to frame 2-4x more than yolo's (mean |map change| beyond the
# exact keypoints' own: NM 3.8 / BG 4.4 / CL 5.8 grey levels against 1.7 / 2.4 / 1.4), its
# confidences 2.5x more (0.12-0.17 against 0.05 per frame): v4 reports steady confidences (0.90
# visible, 0.55 hidden: yolo's 0.90 / 0.51-0.65), swaps left and right for long runs (a walk seen
# from the front is mostly swapped throughout) at about yolo's share of frames, has rarer far
# outliers, and keeps more of its error constant (bias share 0.45 against v3's 0.42; yolo 0.57).
ESTIMATOR_V4 = replace(ESTIMATOR_V3, jitter=0.007, drift=0.003, bias=0.002, bias_global=0.018,
                       bias_view=0.015, bias_person=0.01, bias_clothes=0.01, swap_rate=0.012,
                       coat_swap=0.08, swap_frames=30.0, outlier_rate=0.003, outlier_frames=8.0,
                       coat_miss=0.03, conf_visible=0.9, conf_hidden=0.55, conf_wobble=0.04,
                       conf_smooth=0.6)
# ``estimator_v5``: estimator_v4 refitted on a calibration set four times v4's (8 subjects, nm-01..04,
# bg-01, cl-01, all 11 views, seed 7: 528 sequences; benchmarks/results/synthetic_realism_estimator_v5.md).
# There yolo11n-pose errs less than v4 said (median 0.026 body heights against v4's 0.032), and less of
# its error is constant over a sequence (0.34 against v4's 0.49), while what is constant is shared
# between sequences as v4 has it. v5 halves the constant levels, cuts the far outliers (whose runs
# made a sequence's mean error its own) to a quarter, doubles the frame-to-frame error, and makes
# swaps shorter and rarer under coats (frames with a swap: yolo 0.12, v4 0.15, v5 0.11).
ESTIMATOR_V5 = replace(ESTIMATOR_V4, jitter=0.014, drift=0.006, bias_global=0.011, bias_view=0.009,
                       bias_person=0.006, bias_clothes=0.006, swap_rate=0.013, swap_frames=12.0, coat_swap=0.02,
                       outlier_rate=0.0007, coat_error=0.012, bag_error=0.01)
# ``estimator_v6``: estimator_v5 with the two properties of yolo11n-pose's near error (within 0.1
# body heights) that v5 lacked, measured on the same rendered walks (population 110: 1,800
# sequences of 30 frames, every frame; benchmarks/results/synthetic_realism_population110_estimator_v6.md).
# It under-reports the limbs' motion: of the motion about the sequence mean it keeps, real / v6,
# arms x 0.82 / 0.82, arms y 0.58 / 0.58, legs x 0.81 / 0.82, legs y 0.67 / 0.67 (v5 keeps all of
# it); and its error within a sequence is smooth over a few frames (correlation between
# consecutive frames of the near error beyond its sequence mean 0.54 / 0.56; v5 0.09): most of
# v5's frame-to-frame jitter moves into the quick wander. Everything else is v5's.
ESTIMATOR_V6 = replace(ESTIMATOR_V5, jitter=0.006, wander=0.016, wander_corr=0.55,
                       shrink_x=0.18, shrink_arm_y=0.42, shrink_leg_y=0.34)
# ``estimator_v7``: estimator_v6 with the pull towards the other walkers. yolo11n-pose's error,
# given frame by frame to another walker, costs SkeletonGait far less identity than on its own
# walker (population 110: NM 76.4 against 27.8): it depends on the walker's own pose. The
# realism benchmark's pull table on population 110
# (benchmarks/results/synthetic_realism_population110_estimator_v{6,7}.md), slope of the near
# error on the departure from the template, yolo / v6 / v7: hips x -0.84 / 0.06 / -0.85, hips y
# -1.14 / 0.22 / -0.55, legs y -0.55 / -0.32 / -0.51, arms y -0.31 / -0.19 / -0.38, head y
# -0.37 / -0.27 / -0.47. The parameters were fitted by hand on the hips and the pooled slopes;
# the hips' y and the legs' x (-0.16 / -0.37) stay off.
ESTIMATOR_V7 = replace(ESTIMATOR_V6, pull_x=0.05, pull_y=0.2, pull_hips=0.95)
PRESETS = {"estimator": ESTIMATOR, "estimator_v3": ESTIMATOR_V3, "estimator_v4": ESTIMATOR_V4,
           "estimator_v5": ESTIMATOR_V5, "estimator_v6": ESTIMATOR_V6, "estimator_v7": ESTIMATOR_V7}
SHARED_LEVELS = ("global", "view", "person", "person_view", "clothes")


@dataclass(frozen=True)
class SequenceKeys:
    """Who, in what, from where a sequence is: the keys of the shared error draws."""

    subject: int
    clothes: int          # the same number for sequences in the same clothes (and carried bag)
    view: int             # degrees


def shared_offsets(seed: int, keys: SequenceKeys) -> dict[str, np.ndarray]:
    """Standard-normal (17, 2) draws of the four shared levels for one sequence: the same
    arrays for every sequence that shares the level's keys (scaled by the model's stds)."""
    draws = {"global": (4,), "view": (0, keys.view), "person": (1, keys.subject),
             "person_view": (2, keys.subject, keys.view), "clothes": (3, keys.subject, keys.clothes, keys.view)}
    return {level: np.random.default_rng([int(seed), SHARED_STREAM, *map(int, key)]).normal(0.0, 1.0, (17, 2))
            for level, key in draws.items()}


SHARED_STREAM = 55            # (a stream tag of its own, apart from walker_sequences' tags)


def parse_pose_error(spec: str | float) -> PoseErrorModel:
    """``none`` / ``0``, a number (i.i.d. std in body heights), or ``estimator[,name=value...]``."""
    text = str(spec).strip()
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None:
        if not 0.0 <= value <= 0.5:
            raise ValueError(f"--keypoint-noise {text}: an i.i.d. std must be in [0, 0.5] body heights")
        return PoseErrorModel(jitter=value, iid=True) if value > 0 else PoseErrorModel()
    name, *items = [part.strip() for part in text.split(",")]
    if name == "none" and not items:
        return PoseErrorModel()
    if name not in PRESETS:
        raise ValueError(f"--keypoint-noise {text!r}: expected none, a number, or "
                         f"{' / '.join(PRESETS)}[,name=value...]")
    known = {f.name for f in fields(PoseErrorModel)} - {"iid"}
    changes = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in known:
            raise ValueError(f"--keypoint-noise: {item!r} is not name=value with a name among "
                             f"{', '.join(sorted(known))}")
        changes[key] = float(raw)
        if changes[key] < 0 or (key in ("swap_rate", "coat_swap", "coat_miss", "bag_miss", "miss_rate",
                                        "outlier_rate", "drift_corr", "wander_corr", "shrink_x",
                                        "shrink_arm_y", "shrink_leg_y", "pull_x", "pull_y", "pull_hips",
                                        "conf_visible", "conf_hidden",
                                        "conf_smooth") and changes[key] > 1):
            raise ValueError(f"--keypoint-noise: {key}={raw} is out of range")
    return replace(PRESETS[name], **changes)


def covered_joints(coat: bool, bag_side: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(17,) bool masks of the joints hidden by a coat and next to a bag."""
    under_coat, by_bag = np.zeros(17, bool), np.zeros(17, bool)
    if coat:
        under_coat[list(COAT_COVERED)] = True
    if bag_side is not None:
        by_bag[list(BAG_COVERED[1 if bag_side > 0 else -1])] = True
    return under_coat, by_bag


def apply_pose_error(keypoints: np.ndarray, model: PoseErrorModel, rng: np.random.Generator,
                     covered: tuple[np.ndarray, np.ndarray] | None = None,
                     view_deg: float = 90.0, shared: dict[str, np.ndarray] | None = None,
                     departure: np.ndarray | None = None) -> np.ndarray:
    """Keypoints (T, 17, 3) in pixels as an estimator would report them under ``model``;
    ``covered`` is (joints under a coat, joints next to a bag); ``shared`` the sequence's
    :func:`shared_offsets` (needed when a shared bias level is on); ``departure`` the sequence's
    (T, 17, 2) departure from its template (:func:`template_departures`; needed by the pull)."""
    out = np.array(keypoints, np.float32, copy=True)
    if model.is_exact():
        return out
    if model.iid:                       # the first version's model, same draws as before
        for frame in out:
            visible = frame[:, 2] > 0
            if visible.sum() < 2:
                continue
            height = float(np.ptp(frame[visible, 1]))
            frame[visible, :2] += rng.normal(0.0, model.jitter * height, (int(visible.sum()), 2)).astype(np.float32)
        return out
    t = len(out)
    seen = out[..., 2] > 0
    heights = np.array([np.ptp(f[s, 1]) if s.sum() >= 2 else np.nan for f, s in zip(out, seen)])
    height = np.where(np.isfinite(heights), heights, np.nanmedian(heights) if np.isfinite(heights).any() else 1.0)
    under_coat, by_bag = covered if covered is not None else (np.zeros(17, bool), np.zeros(17, bool))
    frontal = 1.0 + model.frontal_gain * abs(math.cos(math.radians(view_deg)))
    # Offsets in body heights: constant bias + AR(1) drift + jitter (+ covered joints' error).
    error = np.zeros((t, 17, 2))
    error += rng.normal(0.0, model.bias, (1, 17, 2))
    for level in SHARED_LEVELS:
        std = getattr(model, f"bias_{level}")
        if std > 0:
            if shared is None:
                raise ValueError(f"bias_{level} needs the sequence's shared offsets")
            error += std * shared[level][None]
    for std, corr in ((model.drift, model.drift_corr), (model.wander, model.wander_corr)):
        if std > 0:
            error += autoregressive_error(rng, t, std, corr)
    error += rng.normal(0.0, model.jitter, (t, 17, 2))
    error += motion_shrinkage(out, seen, height, model)
    if model.needs_population():
        if departure is None:
            raise ValueError("the pull towards the other walkers needs the population's poses: apply this "
                             "error model with datasets_preprocess/synthetic/apply_keypoint_error.py")
        factors = np.zeros((17, 2))
        factors[:, 0], factors[:, 1] = model.pull_x, model.pull_y
        factors[list(HIPS)] = model.pull_hips
        scale = float(np.median(height))
        error -= factors * departure * scale / height[:, None, None]
    for joints, std in ((under_coat, model.coat_error), (by_bag, model.bag_error)):
        if joints.any() and std > 0:
            n, scale = int(joints.sum()), std * frontal
            error[:, joints] += rng.normal(0.0, 0.9 * scale, (1, n, 2)) + rng.normal(0.0, 0.45 * scale, (t, n, 2))
    if model.outlier_rate > 0:
        for frame, joint in zip(*np.nonzero(rng.random((t, 17)) < model.outlier_rate)):
            length = max(1, int(rng.geometric(1.0 / max(model.outlier_frames, 1.0))))
            error[frame:frame + length, joint] += rng.normal(0.0, model.outlier_error, 2)
    moved = out[..., :2] + error * height[:, None, None]
    # Left/right swaps of arms or legs for runs of frames.
    leg_rate = model.swap_rate / 2 + (model.coat_swap * frontal if under_coat.any() else 0.0)
    facing = max(0.0, 1.0 + model.swap_view * math.cos(math.radians(view_deg))) if model.swap_view else 1.0
    for pairs, rate in ((LEFT_RIGHT_ARMS, model.swap_rate / 2 * facing), (LEFT_RIGHT_LEGS, leg_rate * facing)):
        i = 0
        while rate > 0 and i < t:
            if rng.random() < rate:
                length = max(1, int(rng.geometric(1.0 / max(model.swap_frames, 1.0))))
                for a, b in pairs:
                    moved[i:i + length, [a, b]] = moved[i:i + length, [b, a]]
                i += length
            else:
                i += 1
    far = np.linalg.norm(error, axis=-1) > 0.1
    if model.conf_visible > 0:
        conf = reported_confidence(out[..., 2], far, model, rng)
    else:
        conf = out[..., 2].copy()
        conf = np.where(far & seen, rng.uniform(0.3, 0.6, conf.shape), conf)
    lost = rng.random((t, 17)) < model.miss_rate
    for joints, p in ((under_coat, model.coat_miss), (by_bag, model.bag_miss)):
        if joints.any() and p > 0:
            lost |= (rng.random((t, 17)) < min(p * frontal, 1.0)) & joints[None, :]
    conf = np.where(lost, 0.0, conf)
    out[..., :2] = np.where(seen[..., None], moved, out[..., :2])
    out[..., 2] = np.where(seen, conf, out[..., 2])
    return out.astype(np.float32)


def autoregressive_error(rng: np.random.Generator, frames: int, std: float, corr: float) -> np.ndarray:
    """(T, 17, 2) stationary AR(1) error of std ``std`` and frame-to-frame correlation ``corr``."""
    innovation = std * math.sqrt(max(1.0 - corr ** 2, 1e-6))
    out = np.zeros((frames, 17, 2))
    state = rng.normal(0.0, std, (17, 2))
    for i in range(frames):
        out[i] = state
        state = corr * state + rng.normal(0.0, innovation, (17, 2))
    return out


def motion_shrinkage(keypoints: np.ndarray, seen: np.ndarray, height: np.ndarray,
                     model: PoseErrorModel) -> np.ndarray:
    """(T, 17, 2) error in body heights that keeps only ``1 - shrink`` of each joint's motion about
    its mean place over the frames it is seen (positions relative to the hip centre, in the
    sequence's median body height: a frame's own height moves with the legs and would add motion
    of its own); zero where the joint or the hips are not seen."""
    factors = np.zeros((17, 2))
    factors[:, 0] = model.shrink_x
    factors[list(ARM_JOINTS), 1] = model.shrink_arm_y
    factors[list(LEG_JOINTS), 1] = model.shrink_leg_y
    if not factors.any():
        return np.zeros(keypoints.shape[:2] + (2,))
    hips_seen = seen[:, list(HIPS)].all(1)
    centre = keypoints[:, list(HIPS), :2].mean(1, keepdims=True)
    scale = float(np.median(height))
    place = (keypoints[..., :2] - centre) / scale
    used = seen & hips_seen[:, None]
    count = used.sum(0)[:, None]
    mean = np.where(used[..., None], place, 0.0).sum(0) / np.maximum(count, 1)
    motion = np.where(used[..., None], place - mean, 0.0)
    return -factors * motion * scale / height[:, None, None]


def hip_centred_poses(keypoints: np.ndarray) -> np.ndarray:
    """(T, 17, 2) poses relative to the hip centre in the sequence's median body height (the y
    extent of the joints in the image); NaN rows for frames without every joint in the image."""
    seen = keypoints[..., 2] > 0
    heights = np.array([np.ptp(f[s, 1]) if s.sum() >= 2 else np.nan for f, s in zip(keypoints, seen)])
    if not np.isfinite(heights).any():
        return np.full(keypoints.shape[:2] + (2,), np.nan)
    pose = (keypoints[..., :2] - keypoints[:, list(HIPS), :2].mean(1, keepdims=True)) / float(np.nanmedian(heights))
    pose[~seen.all(1)] = np.nan
    return pose


def departures_from_templates(poses: dict[str, np.ndarray], walker: dict[str, object], view: dict[str, object],
                              neighbours: int = 20) -> dict[str, np.ndarray]:
    """Each sequence's (T, 17, 2) departure from its template: per frame with a pose (``poses``:
    NaN rows for frames without one), the pose less the mean of the ``neighbours`` nearest poses
    (Euclidean over the joints) of *other* walkers seen from the same view; 0 for frames without
    a pose and in views with too few other walkers' frames."""
    out = {name: np.zeros(pose.shape) for name, pose in poses.items()}
    for v in set(view.values()):
        names = [name for name in poses if view[name] == v]
        frames = [np.flatnonzero(np.isfinite(poses[name]).all((1, 2))) for name in names]
        flat = np.concatenate([poses[name][f].reshape(len(f), -1) for name, f in zip(names, frames)])
        owner = np.repeat([str(walker[name]) for name in names], [len(f) for f in frames])
        if len(owner) == 0 or len(owner) - max(np.unique(owner, return_counts=True)[1]) < neighbours:
            continue
        departure = np.empty_like(flat)
        for start in range(0, len(flat), 512):
            block = slice(start, start + 512)
            dist = ((flat[block, None] - flat[None]) ** 2).sum(-1)
            dist[owner[block, None] == owner[None]] = np.inf
            near = np.argpartition(dist, neighbours, axis=1)[:, :neighbours]
            departure[block] = flat[block] - flat[near].mean(1)
        offsets = np.cumsum([0] + [len(f) for f in frames])
        for name, f, a, b in zip(names, frames, offsets[:-1], offsets[1:]):
            out[name][f] = departure[a:b].reshape(-1, 17, 2)
    return out


def template_departures(sequences: dict[str, np.ndarray], walker: dict[str, object], view: dict[str, object],
                        neighbours: int = 20) -> dict[str, np.ndarray]:
    """:func:`departures_from_templates` of the sequences' (T, 17, 3) keypoints, as
    :func:`hip_centred_poses` places them."""
    return departures_from_templates({name: hip_centred_poses(kp) for name, kp in sequences.items()},
                                     walker, view, neighbours)


GENERATOR_VISIBLE = 0.8         # the renderer draws visible joints' confidences from 0.8-1.0


def reported_confidence(truth: np.ndarray, far: np.ndarray, model: PoseErrorModel,
                        rng: np.random.Generator) -> np.ndarray:
    """(T, 17) confidences an estimator with steady confidences reports: ``conf_visible`` where
    the generator drew the joint visible, ``conf_hidden`` where hidden or moved far, plus the
    AR(1) wobble, smoothed forwards and backwards over time; 0 stays 0 (outside the image)."""
    level = np.where(truth >= GENERATOR_VISIBLE, model.conf_visible, model.conf_hidden)
    level = np.where(far, np.minimum(level, model.conf_hidden), level)
    if model.conf_wobble > 0:
        innovation = model.conf_wobble * math.sqrt(max(1.0 - model.drift_corr ** 2, 1e-6))
        state = rng.normal(0.0, model.conf_wobble, truth.shape[1])
        for i in range(len(level)):
            level[i] += state
            state = model.drift_corr * state + rng.normal(0.0, innovation, truth.shape[1])
    a = model.conf_smooth
    if a > 0:
        for i in range(1, len(level)):
            level[i] = (1 - a) * level[i] + a * level[i - 1]
        for i in range(len(level) - 2, -1, -1):
            level[i] = (1 - a) * level[i] + a * level[i + 1]
    return np.where(truth > 0, np.clip(level, 0.05, 1.0), 0.0)
