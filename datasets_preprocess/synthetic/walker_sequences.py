"""Subjects, sequences and multi-view rendering shared by the three synthetic layouts.

Everything is derived from ``(seed, subject index, ...)`` through numpy ``SeedSequence``s, so
subject 7 is the same person whatever ``--subjects`` is, a sequence is the same whatever other
views are requested, and the same seed gives byte-identical files.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from datasets_preprocess.synthetic import appearance as ap
from datasets_preprocess.synthetic import renderer as rd
from datasets_preprocess.synthetic.body_model import (SubjectIdentity, WalkSettings,
                                                      sample_identity, stride_length,
                                                      walk_kinematics)
from datasets_preprocess.synthetic.camera import Camera, view_camera

FPS = 25.0
FRAME_WIDTH, FRAME_HEIGHT = 320, 240
FOCAL = 380.0

# Stream tags keep the random streams of different purposes apart.
STREAM_SUBJECT, STREAM_WALK, STREAM_VIEW, STREAM_BACKGROUND, STREAM_EXTRA = 0, 1, 2, 3, 4
STREAM_POSE_ERROR = 5          # the keypoint error model's own draws
STREAM_ORACLE = 6              # oracle clothing augmentation: who is re-dressed, in what
STREAM_WARDROBE = 7            # wardrobe v3: outfits' and sequences' garments beyond v2's draws
                               # (a stream of their own: walks and keypoints stay as in v2)


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """A generator for one purpose, e.g. ``rng_for(seed, STREAM_WALK, subject, type_index)``."""
    return np.random.default_rng([int(seed), *map(int, keys)])


@dataclass(frozen=True)
class SubjectProfile:
    index: int
    identity: SubjectIdentity
    skin: tuple
    hair: tuple
    hair_cover: float
    outfits: tuple  # Outfit per clothes id; outfit 0 is the CASIA-B "nm" outfit
    wardrobe: str = "v2"


def subject_profile(seed: int, index: int, n_outfits: int = 5, wardrobe: str = "v2") -> SubjectProfile:
    """A subject's body, skin, hair and outfits. ``wardrobe`` v3 or v4 re-cuts the same outfits
    (wide trousers, skirts and dresses, hats) from the subject's wardrobe stream."""
    if wardrobe not in ap.WARDROBES:
        raise ValueError(f"unknown wardrobe {wardrobe!r} (expected {' or '.join(ap.WARDROBES)})")
    rng = rng_for(seed, STREAM_SUBJECT, index)
    identity = sample_identity(rng)
    skin, hair, cover = ap.sample_subject_look(rng)
    outfits = tuple(ap.sample_outfit(rng) for _ in range(n_outfits))
    if ap.richer(wardrobe):
        outfits = ap.outfits_v3(outfits, rng_for(seed, STREAM_WARDROBE, index, 0))
    return SubjectProfile(index, identity, skin, hair, cover, outfits, wardrobe)


def wardrobe_rng(seed: int, subject: int, purpose: int, *keys: int) -> np.random.Generator:
    """The v3 wardrobe's stream of one purpose (1 casia_b walk, 2 ccvid outfit design, 3 ccvid
    session bag, 4 ccvid session, 5 grew sequence, 6 ccvid oracle variant; 0 is the subject's
    outfits)."""
    return rng_for(seed, STREAM_WARDROBE, subject, purpose, *keys)


def sample_walk(rng: np.random.Generator, identity: SubjectIdentity, n_frames: int,
                pose_noise_deg: float) -> tuple[WalkSettings, str]:
    """Start phase, speed jitter and where the walk lies on the path (in frame, entering or
    leaving the side views' field of view)."""
    speed_factor = float(np.clip(rng.normal(1.0, 0.05), 0.85, 1.15))
    cycles_per_s = identity.cadence / 120.0 * np.sqrt(speed_factor)
    length = stride_length(identity, speed_factor) * cycles_per_s * n_frames / FPS
    placement = str(rng.choice(["inside", "entering", "leaving"], p=[0.7, 0.15, 0.15]))
    shift = {"inside": rng.uniform(-0.3, 0.3), "entering": -rng.uniform(1.0, 1.6),
             "leaving": rng.uniform(1.0, 1.6)}[placement]
    walk = WalkSettings(start_phase=float(rng.uniform(0, 2 * np.pi)), speed_factor=speed_factor,
                        pose_noise_deg=pose_noise_deg, start_z=float(-length / 2 + shift))
    return walk, placement


@dataclass
class RenderedView:
    """One camera's view of a walk: frames, silhouettes and COCO-17 keypoints."""

    rgb: list = field(default_factory=list)        # (H, W, 3) uint8 per frame (empty if mask-only)
    masks: list = field(default_factory=list)      # (H, W) bool per frame (exact)
    keypoints: np.ndarray | None = None            # (T, 17, 3) float32, source pixels
    groups: list = field(default_factory=list)     # (H, W) uint8 body-part group per frame (renderer.py)


def camera_for_view(view_deg: float) -> Camera:
    return view_camera(view_deg, focal=FOCAL, width=FRAME_WIDTH, height=FRAME_HEIGHT)


def background_for_camera(seed: int, camera_index: int) -> np.ndarray:
    """The static scene one camera sees (shared by every subject, as in a real studio)."""
    return rd.make_background(rng_for(seed, STREAM_BACKGROUND, camera_index), FRAME_WIDTH, FRAME_HEIGHT)


class WalkRenderer:
    """Kinematics and body primitives of one walk, rendered from any number of cameras."""

    def __init__(self, profile: SubjectProfile, look: ap.Appearance, walk: WalkSettings,
                 n_frames: int, rng: np.random.Generator):
        self.profile = profile
        self.points = walk_kinematics(profile.identity, walk, n_frames, FPS, rng)
        self.parts = [rd.build_body(self.points, i, profile.identity, look)
                      for i in range(n_frames)]

    def dressed(self, look: ap.Appearance) -> "WalkRenderer":
        """The same walk (the same joint positions in every frame) in other clothes."""
        other = object.__new__(WalkRenderer)
        other.profile, other.points = self.profile, self.points
        other.parts = [rd.build_body(self.points, i, self.profile.identity, look)
                       for i in range(len(self.parts))]
        return other

    def render(self, cam: Camera, background: np.ndarray | None,
               rng: np.random.Generator) -> RenderedView:
        view = RenderedView()
        keypoints = []
        noise = rd.SensorNoise(rng, cam.height, cam.width) if background is not None else None
        for i, parts in enumerate(self.parts):
            frame = rd.render_frame(parts, cam, background)
            if frame.rgb is not None:
                view.rgb.append(noise(frame.rgb))
            view.masks.append(frame.mask)
            view.groups.append(frame.groups)
            keypoints.append(rd.joint_visibility(self.points, i, frame, cam, rng))
        view.keypoints = np.stack(keypoints).astype(np.float32)
        return view


def frame_faults(rng: np.random.Generator, n_frames: int, missing_rate: float,
                 broken_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of frames to drop (missing) and to damage (broken)."""
    draw = rng.random(n_frames)
    missing = draw < missing_rate
    broken = (draw >= missing_rate) & (draw < missing_rate + broken_rate)
    return missing, broken


def break_silhouette(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A failed segmentation: empty, or a large block of the body missing."""
    if rng.random() < 0.5 or not mask.any():
        return np.zeros_like(mask)
    ys, xs = np.nonzero(mask)
    y0, y1 = ys.min(), ys.max()
    cut = int(y0 + rng.uniform(0.2, 0.6) * (y1 - y0))
    out = mask.copy()
    if rng.random() < 0.5:
        out[cut:] = False
    else:
        out[:cut] = False
    return out
