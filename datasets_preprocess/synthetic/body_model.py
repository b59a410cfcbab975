"""A 3D articulated walker: identity (body + gait dynamics) and forward kinematics.

World frame: metres, ``y`` up, the walker faces ``+z`` (walking direction) and its left side
is ``+x``. One call of :func:`walk_kinematics` gives every joint of the COCO-17 skeleton plus
a few helper points (pelvis, neck, head centre, hand tips, toes) for all frames at once.

Identity is spread over many parameters (segment lengths, widths, limb girth, cadence, stride,
arm swing, knee/hip profiles, left/right asymmetry, lean, head bob, sway, toe-out), each drawn
within realistic human ranges, so no single cue such as height separates two subjects.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np



@dataclass(frozen=True)
class SubjectIdentity:
    """Everything that makes one walker recognisable (lengths in metres, angles in degrees)."""

    height: float
    # segment lengths
    pelvis_height: float      # hip joint height when standing
    thigh: float
    shank: float
    ankle_height: float
    torso: float              # hip-joint line to shoulder line
    neck: float
    upper_arm: float
    forearm: float
    hand: float
    foot: float
    head_radius: float
    # widths and girth
    shoulder_width: float     # between shoulder joints
    hip_width: float          # between hip joints
    torso_depth: float        # front-to-back at the chest
    girth: float              # scales every limb radius (thin ... heavy build)
    # gait dynamics
    cadence: float            # steps per minute
    hip_amplitude: float      # thigh swing about the mean, degrees
    hip_offset: float         # mean thigh flexion, degrees
    knee_swing: float         # peak knee flexion in swing, degrees
    knee_stance: float        # loading-response knee flexion, degrees
    arm_swing: float          # shoulder flexion amplitude, degrees
    elbow_base: float         # resting elbow flexion, degrees
    elbow_swing: float        # extra elbow flexion on the forward swing, degrees
    asymmetry: float          # right-side amplitude = left * (1 + asymmetry)
    phase_skew: float         # right-leg phase offset from a perfect half cycle, radians
    lean: float               # forward trunk lean, degrees
    head_bob: float           # head nod amplitude, degrees
    sway: float               # lateral pelvis sway, metres
    pelvis_rotation: float    # transverse pelvis rotation amplitude, degrees
    toe_out: float            # foot progression angle, degrees
    arm_abduction: float      # arms held away from the body, degrees

    def as_dict(self) -> dict[str, float]:
        return {f.name: round(float(getattr(self, f.name)), 5) for f in fields(self)}


def sample_identity(rng: np.random.Generator) -> SubjectIdentity:
    """Draw one subject. Proportions follow anthropometric fractions of height, each jittered
    independently, so subjects of equal height still differ in build and in gait."""
    def n(mean: float, sd: float, lo: float, hi: float) -> float:
        return float(np.clip(rng.normal(mean, sd), lo, hi))

    h = n(1.70, 0.09, 1.50, 1.95)
    leg = h * n(0.53, 0.015, 0.49, 0.57)
    ankle = h * 0.039
    thigh_share = n(0.50, 0.02, 0.45, 0.55)
    thigh = (leg - ankle) * thigh_share
    shank = (leg - ankle) - thigh
    head_r = h * n(0.062, 0.003, 0.055, 0.07)
    neck = h * n(0.022, 0.004, 0.012, 0.032)
    torso = h - leg - 2 * head_r - neck - h * 0.02
    return SubjectIdentity(
        height=h, pelvis_height=leg, thigh=thigh, shank=shank, ankle_height=ankle,
        torso=torso, neck=neck,
        upper_arm=h * n(0.186, 0.007, 0.165, 0.21), forearm=h * n(0.146, 0.006, 0.13, 0.165),
        hand=h * n(0.07, 0.005, 0.06, 0.085), foot=h * n(0.145, 0.007, 0.125, 0.165),
        head_radius=head_r,
        shoulder_width=h * n(0.205, 0.012, 0.17, 0.245), hip_width=h * n(0.105, 0.008, 0.085, 0.13),
        torso_depth=h * n(0.125, 0.012, 0.095, 0.16), girth=n(1.0, 0.13, 0.72, 1.35),
        cadence=n(110.0, 7.0, 92.0, 128.0), hip_amplitude=n(22.0, 2.5, 16.0, 29.0),
        hip_offset=n(4.0, 2.0, -1.0, 9.0), knee_swing=n(58.0, 5.0, 45.0, 70.0),
        knee_stance=n(14.0, 4.0, 4.0, 24.0), arm_swing=n(24.0, 7.0, 8.0, 42.0),
        elbow_base=n(16.0, 6.0, 4.0, 32.0), elbow_swing=n(14.0, 5.0, 2.0, 28.0),
        asymmetry=n(0.0, 0.06, -0.15, 0.15), phase_skew=n(0.0, 0.06, -0.15, 0.15),
        lean=n(4.0, 2.5, -2.0, 11.0), head_bob=n(2.5, 1.2, 0.0, 6.0),
        sway=n(0.025, 0.008, 0.008, 0.045), pelvis_rotation=n(5.0, 2.0, 0.0, 11.0),
        toe_out=n(7.0, 4.0, -4.0, 18.0), arm_abduction=n(8.0, 3.0, 2.0, 16.0),
    )


@dataclass(frozen=True)
class WalkSettings:
    """Per-sequence variation of one walk (the same walk is seen by every camera)."""

    start_phase: float        # radians
    speed_factor: float       # multiplies cadence and stride (each by its square root)
    pose_noise_deg: float     # std of per-frame joint-angle noise
    start_z: float            # pelvis z at frame 0, metres (path centre is z = 0)


def _bump(phase: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A smooth periodic bump (von Mises shape) peaking at ``centre`` with value 1."""
    return np.exp((np.cos(phase - centre) - 1.0) / width ** 2)


def _rotate_y(vectors: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (T, 3) vectors about the vertical axis by per-frame angles (radians)."""
    c, s = np.cos(angle), np.sin(angle)
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    return np.stack([c * x + s * z, y, -s * x + c * z], axis=-1)


def stride_length(identity: SubjectIdentity, speed_factor: float = 1.0) -> float:
    """Metres per gait cycle that keep the stance foot (nearly) still on the ground."""
    phase = np.linspace(0, 2 * np.pi, 181)
    knee = _knee_flexion(identity, phase, 0.0)
    hip = np.radians(identity.hip_offset + identity.hip_amplitude * np.sin(phase))
    ankle_z = identity.thigh * np.sin(hip) + identity.shank * np.sin(hip - knee)
    return float(2.0 * (ankle_z.max() - ankle_z.min()) * np.sqrt(speed_factor))


def _knee_flexion(identity: SubjectIdentity, phase: np.ndarray, amplitude_scale: float):
    # Swing peak in early swing (thigh moving forward), loading response after heel strike.
    scale = 1.0 + amplitude_scale
    return np.radians(3.0 + scale * (identity.knee_swing * _bump(phase, -0.45, 0.55)
                                     + identity.knee_stance * _bump(phase, np.pi / 2 + 0.55, 0.45)))


def walk_kinematics(identity: SubjectIdentity, walk: WalkSettings, n_frames: int, fps: float,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
    """3D positions (T, 3) of the 17 COCO joints and helper points for every frame.

    Returns a dict keyed by COCO joint names plus ``pelvis``, ``neck``, ``head``,
    ``left_hand``/``right_hand`` (finger tips), ``left_toe``/``right_toe``, ``left_heel``/
    ``right_heel``, and the unit axes ``forward``/``lateral`` (trunk) and ``hips_lateral``.
    """
    t = np.arange(n_frames) / fps
    cycles_per_s = identity.cadence / 120.0 * np.sqrt(walk.speed_factor)
    phase = 2 * np.pi * cycles_per_s * t + walk.start_phase
    speed = stride_length(identity, walk.speed_factor) * cycles_per_s

    def noise(scale: float = 1.0) -> np.ndarray:
        return np.radians(rng.normal(0.0, walk.pose_noise_deg * scale, n_frames))

    up = np.array([0.0, 1.0, 0.0])
    sides = {"left": (1.0, phase, 0.0), "right": (-1.0, phase + np.pi + identity.phase_skew,
                                                   identity.asymmetry)}
    # Pelvis (before the vertical placement): forward progression, sway, transverse rotation.
    pelvis_rot = np.radians(identity.pelvis_rotation) * np.sin(phase)
    pelvis = np.stack([identity.sway * np.sin(phase), np.zeros(n_frames),
                       walk.start_z + speed * t], axis=-1)
    hips_lateral = _rotate_y(np.tile([1.0, 0.0, 0.0], (n_frames, 1)), pelvis_rot)
    out: dict[str, np.ndarray] = {}
    for side, (sign, ph, asym) in sides.items():
        hip_angle = np.radians(identity.hip_offset + identity.hip_amplitude * (1 + asym)
                               * np.sin(ph)) + noise()
        knee_angle = _knee_flexion(identity, ph, asym) + noise()
        hip = pelvis + sign * hips_lateral * identity.hip_width / 2
        thigh_dir = np.stack([np.zeros(n_frames), -np.cos(hip_angle), np.sin(hip_angle)], -1)
        shank_angle = hip_angle - knee_angle
        shank_dir = np.stack([np.zeros(n_frames), -np.cos(shank_angle), np.sin(shank_angle)], -1)
        knee = hip + identity.thigh * thigh_dir
        ankle = knee + identity.shank * shank_dir
        # Foot: flat in stance, toe down at toe-off, toe up at heel strike; turned out a little.
        pitch = np.radians(-28.0 * _bump(ph, -np.pi / 2 - 0.35, 0.4)
                           + 12.0 * _bump(ph, np.pi / 2 - 0.1, 0.35))
        yaw = np.radians(identity.toe_out) * sign
        foot_dir = np.stack([np.sin(yaw) * np.cos(pitch), np.sin(pitch),
                             np.cos(yaw) * np.cos(pitch)], -1)
        out[f"{side}_hip"], out[f"{side}_knee"], out[f"{side}_ankle"] = hip, knee, ankle
        out[f"{side}_toe"] = ankle + foot_dir * identity.foot * 0.78 - up * identity.ankle_height * 0.6
        out[f"{side}_heel"] = ankle - foot_dir * identity.foot * 0.22 - up * identity.ankle_height * 0.8
    # Vertical placement: the lowest foot point touches the ground (y = 0).
    lowest = np.minimum.reduce([out[k][:, 1] for k in
                                ("left_toe", "right_toe", "left_heel", "right_heel")])
    lift = -lowest[:, None] * up
    for k in list(out):
        out[k] = out[k] + lift
    pelvis = pelvis + lift

    # Trunk: lean forward, counter-rotate the shoulders against the pelvis.
    lean = np.radians(identity.lean) + noise(0.5)
    spine_dir = np.stack([np.zeros(n_frames), np.cos(lean), np.sin(lean)], -1)
    shoulder_rot = -0.8 * pelvis_rot
    forward = _rotate_y(np.stack([np.zeros(n_frames), -np.sin(lean), np.cos(lean)], -1),
                        shoulder_rot)
    lateral = _rotate_y(np.tile([1.0, 0.0, 0.0], (n_frames, 1)), shoulder_rot)
    neck = pelvis + spine_dir * identity.torso
    out["pelvis"], out["neck"] = pelvis, neck
    out["forward"], out["lateral"], out["hips_lateral"] = forward, lateral, hips_lateral
    for side, (sign, ph, asym) in sides.items():
        shoulder = neck - spine_dir * 0.028 * identity.height + sign * lateral * identity.shoulder_width / 2
        # Arm swings opposite to the same-side leg.
        flex = np.radians(-identity.arm_swing * (1 + asym) * np.sin(ph)) + noise()
        abd = np.radians(identity.arm_abduction)
        upper_dir = (np.cos(abd) * (-np.cos(flex))[:, None] * spine_dir
                     + np.cos(abd) * np.sin(flex)[:, None] * forward
                     + sign * np.sin(abd) * lateral)
        elbow = shoulder + identity.upper_arm * upper_dir
        elbow_flex = np.radians(identity.elbow_base + identity.elbow_swing
                                * (0.5 - 0.5 * np.sin(ph))) + noise()
        fore_angle = flex + elbow_flex
        fore_dir = (np.cos(abd * 0.5) * (-np.cos(fore_angle))[:, None] * spine_dir
                    + np.cos(abd * 0.5) * np.sin(fore_angle)[:, None] * forward
                    + sign * np.sin(abd * 0.5) * lateral)
        wrist = elbow + identity.forearm * fore_dir
        out[f"{side}_shoulder"], out[f"{side}_elbow"], out[f"{side}_wrist"] = shoulder, elbow, wrist
        out[f"{side}_hand"] = wrist + identity.hand * fore_dir
    # Head: on top of the neck, nodding a little at twice the cycle frequency.
    nod = np.radians(identity.head_bob) * np.sin(2 * phase + 0.6) + noise(0.5)
    head_up = np.cos(nod)[:, None] * spine_dir + np.sin(nod)[:, None] * forward
    head_fwd = np.cos(nod)[:, None] * forward - np.sin(nod)[:, None] * spine_dir
    head = neck + spine_dir * identity.neck + head_up * identity.head_radius * 0.95
    r = identity.head_radius
    out["head"], out["head_forward"], out["head_up"] = head, head_fwd, head_up
    out["nose"] = head + head_fwd * r * 0.93 - head_up * r * 0.12
    for side, sign in (("left", 1.0), ("right", -1.0)):
        out[f"{side}_eye"] = head + head_fwd * r * 0.78 + head_up * r * 0.22 + sign * lateral * r * 0.36
        out[f"{side}_ear"] = head + sign * lateral * r * 0.9 - head_fwd * r * 0.05
    return out

