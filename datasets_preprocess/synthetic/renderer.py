"""Rendering a dressed walker: shaded RGB, the exact binary silhouette and joint visibility.

The body is a set of 3D primitives (tapered capsules with circular or elliptical cross
sections, a sphere for the head, boxes for bags) projected by the camera and rasterised with
numpy over each primitive's bounding box, far to near. Capsules are shaded as cylinders and
carry garment textures along their axis; the head has skin, a hair cap and eyes that depend on
where it faces. The silhouette is the union of the primitives (no anti-aliasing); a group map
records which body part is on top at each pixel, which gives ground-truth joint visibility.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from datasets_preprocess.synthetic.appearance import (CHECK, PLAIN, STRIPES_ACROSS,
                                                      STRIPES_ALONG, Appearance, Material)
from gaitcore.pose_files import COCO17_NAMES as COCO_JOINTS
from datasets_preprocess.synthetic.body_model import SubjectIdentity
from datasets_preprocess.synthetic.camera import Camera

# Body-part groups written to the group map (0 = background).
HEAD, TORSO, L_UPPER_ARM, L_FOREARM, R_UPPER_ARM, R_FOREARM = 1, 2, 3, 4, 5, 6
L_THIGH, L_SHANK, R_THIGH, R_SHANK, BAG = 7, 8, 9, 10, 11
HAT = 12                               # wardrobe v3 headwear (covers no joint)

# Groups a joint may be covered by and still count as visible.
JOINT_GROUPS = {
    "nose": (HEAD,), "left_eye": (HEAD,), "right_eye": (HEAD,),
    "left_ear": (HEAD,), "right_ear": (HEAD,),
    "left_shoulder": (TORSO, L_UPPER_ARM), "right_shoulder": (TORSO, R_UPPER_ARM),
    "left_elbow": (L_UPPER_ARM, L_FOREARM), "right_elbow": (R_UPPER_ARM, R_FOREARM),
    "left_wrist": (L_FOREARM,), "right_wrist": (R_FOREARM,),
    "left_hip": (TORSO, L_THIGH), "right_hip": (TORSO, R_THIGH),
    "left_knee": (L_THIGH, L_SHANK), "right_knee": (R_THIGH, R_SHANK),
    "left_ankle": (L_SHANK,), "right_ankle": (R_SHANK,),
}
# Face joints also need to face the camera: direction from the head centre.
FACE_JOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")

LIGHT = np.array([-0.45, -0.55, 0.70])  # image x (right), image y (down), towards the camera
LIGHT = tuple(float(v) for v in LIGHT / np.linalg.norm(LIGHT))


def _clip(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """In-place clip of a temporary array (np.clip's Python wrapper costs more than the maths)."""
    return np.minimum(np.maximum(a, lo, out=a), hi, out=a)


@dataclass
class Capsule:
    a: np.ndarray            # 3D end points
    b: np.ndarray
    ra: float | tuple        # radius (m) or (lateral, depth) half-axes of an elliptical section
    rb: float | tuple
    material: Material
    group: int
    caps: tuple[bool, bool] = (True, True)
    depth_bias: float = 0.0  # metres added to the sort depth (negative = drawn later)
    axes: tuple | None = None  # (lateral, forward) unit vectors for elliptical sections


@dataclass
class Box:
    centre: np.ndarray
    axes: np.ndarray         # (3, 3) rows: unit axes
    half: np.ndarray         # (3,) half extents along the axes
    material: Material
    group: int
    depth_bias: float = 0.0


@dataclass
class HeadSphere:
    centre: np.ndarray
    radius: float
    forward: np.ndarray
    up: np.ndarray
    lateral: np.ndarray
    skin: tuple
    hair: tuple
    hair_cover: float


@dataclass
class Frame:
    rgb: np.ndarray | None   # (H, W, 3) uint8, None when rendered without a background
    mask: np.ndarray         # (H, W) bool, exact union of the body primitives
    groups: np.ndarray       # (H, W) uint8 group on top


def build_body(points: dict[str, np.ndarray], i: int, ident: SubjectIdentity,
               look: Appearance) -> list:
    """The primitives of frame ``i`` (points are (T, 3) arrays from walk_kinematics)."""
    p = {k: v[i] for k, v in points.items()}
    g = ident.girth
    up = np.array([0.0, 1.0, 0.0])
    lat, fwd = p["lateral"], p["forward"]
    spine = p["neck"] - p["pelvis"]
    spine_dir = spine / np.linalg.norm(spine)
    outfit, coat, bag = look.outfit, look.coat, look.bag
    skirt = outfit.skirt                 # wardrobe v3 (like the hat, wide trousers and the kinds
                                         # of coat and bag other than v2's)
    skin = Material(look.skin)
    bulk = coat.bulk if coat else 0.0
    loose = outfit.looseness
    top_mat = skirt.material if skirt is not None and skirt.kind == "dress" else outfit.shirt
    torso_mat = coat.material if coat else top_mat
    sleeve_mat = coat.material if coat else top_mat
    long_sleeves = outfit.long_sleeves or coat is not None
    # A jacket ends at the hips: the thighs keep the trousers' width.
    leg_bulk = 0.0 if coat is not None and coat.kind == "jacket" else bulk * 0.5
    parts: list = []

    shoulder_mid = (p["left_shoulder"] + p["right_shoulder"]) / 2
    torso_top = shoulder_mid + spine_dir * 0.02
    torso_bottom = p["pelvis"] - spine_dir * 0.05
    half_depth = ident.torso_depth / 2 * (0.6 + 0.4 * g)
    # A coat is drawn over the trousers' hip part (depth bias), still under the near arm.
    coat_bias = -0.1 if coat else 0.0
    parts.append(Capsule(torso_bottom, torso_top,
                         (ident.hip_width / 2 + 0.06 * g + loose + bulk, half_depth * 0.9 + bulk),
                         (ident.shoulder_width / 2 - 0.005 + bulk, half_depth + bulk),
                         torso_mat, TORSO, caps=(False, False), axes=(lat, fwd),
                         depth_bias=coat_bias))
    parts.append(Capsule(p["left_shoulder"], p["right_shoulder"], 0.055 * g + bulk * 0.6,
                         0.055 * g + bulk * 0.6, torso_mat, TORSO))
    parts.append(Capsule(p["left_hip"], p["right_hip"], 0.085 * g + loose, 0.085 * g + loose,
                         outfit.trousers if skirt is None else skirt.material, TORSO))
    # Neck and head.
    head_bottom = p["head"] - p["head_up"] * ident.head_radius * 0.6
    parts.append(Capsule(p["neck"] - spine_dir * 0.03, head_bottom, 0.048 * g, 0.045 * g,
                         skin, HEAD, depth_bias=0.02))
    parts.append(HeadSphere(p["head"], ident.head_radius, p["head_forward"], p["head_up"], lat,
                            look.skin, look.hair, look.hair_cover))

    for side, sign, ua, fa, th, sh in (("left", 1.0, L_UPPER_ARM, L_FOREARM, L_THIGH, L_SHANK),
                                       ("right", -1.0, R_UPPER_ARM, R_FOREARM, R_THIGH, R_SHANK)):
        sho, elb, wri, hand = (p[f"{side}_{k}"] for k in ("shoulder", "elbow", "wrist", "hand"))
        hip, knee, ankle = (p[f"{side}_{k}"] for k in ("hip", "knee", "ankle"))
        # Arms: sleeves over skin (skin under a long sleeve is hidden, so not drawn).
        if not long_sleeves:
            parts.append(Capsule(sho, elb, 0.046 * g, 0.039 * g, skin, ua))
            parts.append(Capsule(elb, wri, 0.037 * g, 0.028 * g, skin, fa))
        parts.append(Capsule(wri, hand, 0.03 * g, 0.022 * g, skin, fa))
        if long_sleeves:
            parts.append(Capsule(sho, elb, 0.052 * g + loose + bulk * 0.5,
                                 0.045 * g + loose + bulk * 0.5, sleeve_mat, ua, depth_bias=-0.001))
            parts.append(Capsule(elb, elb + 0.97 * (wri - elb), 0.043 * g + loose + bulk * 0.4,
                                 0.034 * g + loose + bulk * 0.4, sleeve_mat, fa, depth_bias=-0.001))
        else:
            parts.append(Capsule(sho, sho + 0.45 * (elb - sho), 0.055 * g + loose,
                                 0.05 * g + loose, sleeve_mat, ua, depth_bias=-0.001))
        # Legs: trousers (or shorts over skin) and shoes.
        trouser_r = (0.088 * g + loose + leg_bulk, 0.058 * g + loose, 0.04 * g + loose)
        if outfit.wide:                  # wide trousers: the legs widen towards the hem
            trouser_r = (trouser_r[0] + 0.3 * outfit.wide, trouser_r[1] + 0.6 * outfit.wide,
                         trouser_r[2] + outfit.wide)
        if skirt is not None:            # bare legs or tights under a skirt or dress
            legs, extra = (skin, 0.0) if skirt.legs is None else (skirt.legs, 0.003)
            parts.append(Capsule(knee, ankle, 0.055 * g + extra, 0.037 * g + extra, legs, sh))
            parts.append(Capsule(hip, knee, 0.075 * g + extra, 0.056 * g + extra, legs, th))
        elif outfit.shorts:
            parts.append(Capsule(knee, ankle, 0.055 * g, 0.037 * g, skin, sh))
            parts.append(Capsule(hip, hip + 0.8 * (knee - hip), trouser_r[0],
                                 0.066 * g + loose, outfit.trousers, th))
        else:
            parts.append(Capsule(knee, ankle, trouser_r[1], trouser_r[2], outfit.trousers, sh))
            parts.append(Capsule(hip, knee, trouser_r[0], trouser_r[1], outfit.trousers, th))
        parts.append(Capsule(p[f"{side}_heel"], p[f"{side}_toe"], 0.042, 0.034, outfit.shoes, sh))
        parts.append(Capsule(ankle, p[f"{side}_heel"] * 0.5 + ankle * 0.5, 0.04, 0.04,
                             outfit.shoes, sh, depth_bias=-0.001))

    if coat is not None:
        thigh_dirs = [(p[f"{s}_knee"] - p[f"{s}_hip"]) / ident.thigh for s in ("left", "right")]
        hem_dir = (thigh_dirs[0] + thigh_dirs[1]) / 2
        hem = p["pelvis"] + hem_dir * ident.thigh * coat.length
        spread = abs(float((p["left_knee"] - p["right_knee"]) @ p["forward"]))
        hem_r = (ident.hip_width / 2 + 0.1 * g + bulk, 0.5 * spread * coat.length + 0.08 + bulk)
        if coat.flare > 0 or coat.length > 1.0:
            # A-line hem, wider the longer the coat; below the knees the coat no longer follows
            # the legs apart (they step out of its front opening).
            flare = coat.flare * coat.length
            hem_r = (hem_r[0] + flare, 0.5 * spread * min(coat.length, 1.0) + 0.08 + bulk + 0.6 * flare)
        top, top_r = torso_bottom + spine_dir * 0.04, (ident.hip_width / 2 + 0.08 * g + bulk, half_depth + bulk)
        if coat.length > 1.0:
            # From mid-thigh down a long coat hangs over the legs: that part is drawn over them
            # from every side (its radii continue the cone's; it starts 3 cm above the upper
            # part's end, so the two cut edges' anti-aliasing never meets). The upper part is
            # drawn like a v2 coat, under the near arm.
            t = 0.6 / coat.length
            t_lower = t - 0.03 / float(np.linalg.norm(hem - top))
            knee_level, upper_end = top + (hem - top) * t_lower, top + (hem - top) * t
            parts.append(Capsule(top, upper_end, top_r, tuple(a + (b - a) * t for a, b in zip(top_r, hem_r)),
                                 coat.material, TORSO, caps=(False, False), axes=(lat, fwd),
                                 depth_bias=-(ident.hip_width / 2 + 0.04)))
            parts.append(Capsule(knee_level, hem, tuple(a + (b - a) * t_lower for a, b in zip(top_r, hem_r)),
                                 hem_r, coat.material, TORSO, caps=(False, False), axes=(lat, fwd),
                                 depth_bias=-(ident.hip_width / 2 + 0.34)))
        else:
            parts.append(Capsule(top, hem, top_r, hem_r, coat.material, TORSO, caps=(False, False),
                                 axes=(lat, fwd), depth_bias=-(ident.hip_width / 2 + 0.04)))
        if coat.hood is not None:
            parts += _hood(p, ident, coat, spine_dir, half_depth)
    if skirt is not None:
        thigh_dirs = [(p[f"{s}_knee"] - p[f"{s}_hip"]) / ident.thigh for s in ("left", "right")]
        hem = p["pelvis"] + (thigh_dirs[0] + thigh_dirs[1]) / 2 * ident.thigh * skirt.length
        spread = abs(float((p["left_knee"] - p["right_knee"]) @ p["forward"]))
        parts.append(Capsule(torso_bottom + spine_dir * 0.04, hem,
                             (ident.hip_width / 2 + 0.075 * g + loose, half_depth * 0.95),
                             (ident.hip_width / 2 + 0.09 * g + loose + skirt.flare,
                              0.5 * spread * min(skirt.length, 1.0) + 0.06 + 0.6 * skirt.flare),
                             skirt.material, TORSO, caps=(False, False), axes=(lat, fwd),
                             depth_bias=-(ident.hip_width / 2 + 0.03)))
    if look.hat is not None:
        parts += _hat(p, ident, look.hat, lat)
    if bag is not None:
        spine_mid = (p["pelvis"] + p["neck"]) / 2
        axes = np.stack([lat, spine_dir, fwd])
        if bag.kind in ("handbag", "tote", "suitcase"):
            parts += _carried(p, ident, bag, axes, half_depth)
        elif bag.kind == "backpack":
            s = bag.size
            centre = spine_mid + spine_dir * 0.06 - fwd * (half_depth + 0.085 * s)
            parts.append(Box(centre, axes, np.array([0.15, 0.2, 0.085]) * s, bag.material, BAG))
            for sho in (p["left_shoulder"], p["right_shoulder"]):
                parts.append(Capsule(sho + up * 0.03 - fwd * 0.02, sho - spine_dir * 0.2 + fwd * (half_depth * 0.8),
                                     0.018, 0.018, bag.material, BAG, depth_bias=-0.05))
        else:
            side = bag.side
            hip_side = p["left_hip"] if side > 0 else p["right_hip"]
            sway = 0.04 * np.sin(np.arctan2(float(p["left_knee"][2] - p["right_knee"][2]), 0.3))
            centre = hip_side + lat * side * (0.09 * g + 0.05) + spine_dir * 0.05 + fwd * sway
            half = np.array([0.045, 0.12, 0.15]) * bag.size
            parts.append(Box(centre, axes, half, bag.material, BAG))
            strap_top = (p["right_shoulder"] if side > 0 else p["left_shoulder"]) + up * 0.035
            chest = spine_mid + spine_dir * 0.08 + fwd * (half_depth + 0.012)
            parts.append(Capsule(strap_top, chest, 0.016, 0.016, bag.material, BAG, depth_bias=-0.2))
            parts.append(Capsule(chest, centre + spine_dir * half[1], 0.016, 0.016, bag.material,
                                 BAG, depth_bias=-0.2))
    return parts


def _hood(p: dict, ident: SubjectIdentity, coat, spine_dir: np.ndarray, half_depth: float) -> list:
    """A high collar around the neck (up to the chin), or a hood lying on the upper back with a
    lower collar: both widen the head-neck outline."""
    g, neck, fwd = ident.girth, p["neck"], p["forward"]
    parts = []
    if coat.hood == "collar":        # up to the chin, about as wide as the head
        parts.append(Capsule(neck - spine_dir * 0.03, neck + spine_dir * ident.neck,
                             0.068 * g + 0.3 * coat.bulk, 0.062 * g + 0.3 * coat.bulk, coat.material, TORSO,
                             caps=(True, False)))
    else:
        parts.append(Capsule(neck - spine_dir * 0.03, neck + spine_dir * ident.neck * 0.5,
                             0.06 * g + 0.3 * coat.bulk, 0.056 * g + 0.3 * coat.bulk, coat.material, TORSO,
                             caps=(True, False)))
        back = neck - fwd * (half_depth * 0.6 + 0.03)       # (below the eyes, behind the head)
        parts.append(Capsule(back, back - spine_dir * 0.12 - fwd * 0.03,
                             0.075 + 0.3 * coat.bulk, 0.06 + 0.3 * coat.bulk, coat.material, TORSO))
    return parts


def _hat(p: dict, ident: SubjectIdentity, hat, lat: np.ndarray) -> list:
    """Headwear on the head sphere: a cap (crown and a brim over the face), a beanie (a taller
    rounded crown), or a wide-brim hat (a flat crown over a brim about 40 cm across)."""
    c, hu, hf, r = p["head"], p["head_up"], p["head_forward"], ident.head_radius
    if hat.kind == "beanie":
        return [Capsule(c + hu * r * 0.1, c + hu * r * 0.45, r * 1.06, r * 0.86, hat.material, HAT,
                        caps=(False, True), depth_bias=-0.01)]
    if hat.kind == "cap":
        return [Capsule(c + hu * r * 0.2, c + hu * r * 0.35, r * 1.04, r * 0.8, hat.material, HAT,
                        caps=(False, True), depth_bias=-0.01),
                Box(c + hu * r * 0.28 + hf * r * 1.3, np.stack([lat, hu, hf]),
                    np.array([r * 0.75, 0.01, r * 0.55]), hat.material, HAT)]
    # Seen from a camera below it, the brim is a thin ellipse: ~3 cm high, as wide as the brim.
    brim = c + hu * r * 0.3
    return [Capsule(brim, brim + hu * 0.03, r * 1.9, r * 1.9, hat.material, HAT, caps=(False, False),
                    depth_bias=-0.02),
            Capsule(brim, c + hu * r * 1.3, r * 1.0, r * 0.92, hat.material, HAT, caps=(False, False),
                    depth_bias=-0.03)]


def _carried(p: dict, ident: SubjectIdentity, bag, axes: np.ndarray, half_depth: float) -> list:
    """Wardrobe v3 bags: a handbag hanging from one hand (it swings with the wrist), a large
    tote at the hip on a strap over the same shoulder, or a suitcase pulled behind on its
    wheels, tilted towards the walker, its handle in one hand."""
    s, side, g = bag.size, bag.side, ident.girth
    name = "left" if side > 0 else "right"
    up = np.array([0.0, 1.0, 0.0])
    fwd_h = p["forward"] * np.array([1.0, 0.0, 1.0])
    fwd_h /= np.linalg.norm(fwd_h)
    lat_h = np.cross(up, fwd_h)          # the walker's left, horizontal
    grip = (p[f"{name}_wrist"] + p[f"{name}_hand"]) / 2
    if bag.kind == "handbag":
        half = np.array([0.045, 0.1, 0.13]) * s
        centre = grip - up * (0.08 * s + half[1])
        top = centre + up * half[1]
        return [Box(centre, np.stack([lat_h, up, fwd_h]), half, bag.material, BAG)] + [
            Capsule(grip, top + fwd_h * half[2] * end, 0.01, 0.01, bag.material, BAG) for end in (-0.6, 0.6)]
    if bag.kind == "tote":
        lat, spine_dir, fwd = axes
        sway = 0.04 * np.sin(np.arctan2(float(p["left_knee"][2] - p["right_knee"][2]), 0.3))
        half = np.array([0.06, 0.16, 0.19]) * s
        centre = p[f"{name}_hip"] + lat * side * (0.09 * g + 0.065) + spine_dir * 0.07 + fwd * sway
        top = centre + spine_dir * half[1]
        strap = p[f"{name}_shoulder"] + up * 0.03
        return [Box(centre, axes, half, bag.material, BAG)] + [
            Capsule(strap, top + fwd * half[2] * end, 0.014, 0.014, bag.material, BAG, depth_bias=-0.02)
            for end in (-0.5, 0.5)]
    # suitcase: rolling on the edge nearest the walker, 0.6 m behind the pelvis
    half = np.array([0.1, 0.28, 0.18]) * s          # across, height, along the walk
    tilt = math.radians(30.0)
    u2 = math.cos(tilt) * up + math.sin(tilt) * fwd_h
    f2 = math.cos(tilt) * fwd_h - math.sin(tilt) * up
    wheels = p["pelvis"] * np.array([1.0, 0.0, 1.0]) + up * 0.03 - fwd_h * 0.6 + lat_h * side * 0.22
    centre = wheels + u2 * half[1] - f2 * half[2]
    handle = wheels + u2 * (2 * half[1] + 0.06)
    return [Box(centre, np.stack([lat_h, u2, f2]), half, bag.material, BAG),
            Capsule(handle, grip, 0.012, 0.012, bag.material, BAG),
            Capsule(wheels + lat_h * half[0] * 0.8, wheels - lat_h * half[0] * 0.8, 0.03, 0.03,
                    Material((30.0, 30.0, 30.0)), BAG)]


def _effective_radius(r, axes, cam: Camera) -> float:
    if not isinstance(r, tuple):
        return float(r)
    e = cam.horizontal_right()
    lat, fwd = axes
    return float(np.hypot(r[0] * (lat @ e), r[1] * (fwd @ e)))


def _texture(material: Material, along_m: np.ndarray, across_m: np.ndarray) -> np.ndarray:
    """Blend factor (0 = colour, 1 = colour2) of a garment pattern at metric coordinates."""
    if material.pattern == PLAIN:
        return np.zeros_like(along_m)
    a = np.floor(along_m / material.period) % 2
    c = np.floor(across_m / material.period) % 2
    if material.pattern == STRIPES_ACROSS:
        return a
    if material.pattern == STRIPES_ALONG:
        return c
    if material.pattern == CHECK:
        return np.abs(a - c)
    raise ValueError(f"unknown pattern {material.pattern}")


class Canvas:
    """RGB float image, silhouette and group map that primitives are painted into."""

    def __init__(self, background: np.ndarray | None, size: tuple[int, int]):
        w, h = size
        self.rgb = None if background is None else background.astype(np.float32)
        self.mask = np.zeros((h, w), bool)
        self.groups = np.zeros((h, w), np.uint8)

    def _window(self, lo: np.ndarray, hi: np.ndarray):
        h, w = self.mask.shape
        x0, y0 = max(math.floor(lo[0]), 0), max(math.floor(lo[1]), 0)
        x1, y1 = min(math.ceil(hi[0]) + 1, w), min(math.ceil(hi[1]) + 1, h)
        if x0 >= x1 or y0 >= y1:
            return None
        # Broadcastable pixel coordinates: xs (1, w), ys (h, 1).
        xs = np.arange(x0, x1, dtype=np.float32)[None, :]
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        return (slice(y0, y1), slice(x0, x1)), xs, ys

    def _paint(self, window, inside, coverage, colour_map, group):
        sl = window
        if self.rgb is not None:
            alpha = coverage[..., None]
            self.rgb[sl] = self.rgb[sl] * (1 - alpha) + colour_map * alpha
        self.mask[sl] |= inside
        self.groups[sl][inside] = group

    def capsule(self, a2, b2, ra, rb, px_per_m_a, px_per_m_b, material: Material, group: int,
                caps=(True, True)) -> None:
        # Python floats keep the per-pixel maths in float32 (numpy float64 scalars would not).
        ax, ay, bx, by = float(a2[0]), float(a2[1]), float(b2[0]), float(b2[1])
        ra, rb = float(ra), float(rb)
        win = self._window((min(ax - ra, bx - rb) - 1, min(ay - ra, by - rb) - 1),
                           (max(ax + ra, bx + rb) + 1, max(ay + ra, by + rb) + 1))
        if win is None:
            return
        sl, xs, ys = win
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy)
        if length < 1e-6:
            dx, dy, length = 0.0, 1e-6, 1e-6
        ux, uy = dx / length, dy / length
        px, py = xs - ax, ys - ay                       # (1, w), (h, 1)
        along = px * ux + py * uy                       # (h, w) distance along the axis
        across = px * uy - py * ux                      # signed distance across it
        t = _clip(along * (1.0 / length), 0.0, 1.0)
        r = ra + (rb - ra) * t
        dist = np.hypot(px - t * dx, py - t * dy)
        inside = dist <= r
        if not caps[0]:
            inside &= along >= 0
        if not caps[1]:
            inside &= along <= length
        if not inside.any():
            return
        if self.rgb is None:
            self._paint(sl, inside, None, None, group)
            return
        coverage = _clip(r - dist + 0.5, 0.0, 1.0)
        if not caps[0]:
            coverage *= _clip(along + 0.5, 0.0, 1.0)
        if not caps[1]:
            coverage *= _clip(length - along + 0.5, 0.0, 1.0)
        s = _clip(across / np.maximum(r, 1e-3), -1.0, 1.0)
        light = s * (uy * LIGHT[0] - ux * LIGHT[1]) + np.sqrt(1.0 - s * s) * LIGHT[2]
        shade = (0.42 + 0.62 * _clip(light, 0.0, 1.0))[..., None]
        base = np.asarray(material.colour, np.float32)
        if material.pattern == PLAIN:
            colour = shade * base
        else:
            px_per_m = px_per_m_a + (px_per_m_b - px_per_m_a) * t
            mix = _texture(material, along / px_per_m, (across + r) / px_per_m)[..., None]
            colour = (base * (1 - mix) + np.asarray(material.colour2, np.float32) * mix) * shade
        self._paint(sl, inside, coverage, colour, group)

    def polygon(self, poly2, colour, shade: float, group: int) -> None:
        lo, hi = poly2.min(0) - 1, poly2.max(0) + 1
        win = self._window(lo, hi)
        if win is None:
            return
        sl, xs, ys = win
        shape = (ys.shape[0], xs.shape[1])
        local = np.zeros(shape, np.uint8)
        offset = np.array([sl[1].start, sl[0].start])
        pts = np.round((poly2 - offset) * 16).astype(np.int32)
        cv2.fillConvexPoly(local, pts, 255, lineType=cv2.LINE_AA, shift=4)
        inside = local >= 128
        if self.rgb is None:
            self._paint(sl, inside, None, None, group)
            return
        coverage = local.astype(np.float32) / 255.0
        colour_map = np.broadcast_to(np.asarray(colour, np.float32) * shade, shape + (3,))
        self._paint(sl, inside, coverage, colour_map, group)

    def head(self, c2, r_px, head: HeadSphere, cam: Camera) -> None:
        win = self._window(c2 - r_px - 1, c2 + r_px + 1)
        if win is None:
            return
        sl, xs, ys = win
        dx, dy = (xs - c2[0]) / r_px, (ys - c2[1]) / r_px
        rr = dx * dx + dy * dy
        dist = np.sqrt(rr) * r_px
        inside = dist <= r_px
        if self.rgb is None:
            self._paint(sl, inside, None, None, HEAD)
            return
        coverage = _clip(r_px - dist + 0.5, 0.0, 1.0)
        nz = np.sqrt(_clip(1.0 - rr, 0.0, 1.0))
        # Surface normal in world coordinates (image y points down, the camera looks along +z).
        normal = (dx[..., None] * cam.right - dy[..., None] * cam.up - nz[..., None] * cam.forward)
        hair_dir = head.up * 0.8 - head.forward * 0.6
        hair_dir /= np.linalg.norm(hair_dir)
        is_hair = normal @ hair_dir > head.hair_cover
        light = dx * LIGHT[0] + dy * LIGHT[1] + nz * LIGHT[2]
        shade = 0.45 + 0.6 * _clip(light, 0.0, 1.0)
        colour = np.where(is_hair[..., None], np.asarray(head.hair, np.float32),
                          np.asarray(head.skin, np.float32))
        for sign in (1.0, -1.0):  # eyes and brows: dark spots where the face points at them
            eye_dir = head.forward * 0.78 + head.up * 0.22 + sign * head.lateral * 0.36
            eye_dir /= np.linalg.norm(eye_dir)
            colour = np.where((normal @ eye_dir > 0.985)[..., None] & ~is_hair[..., None],
                              np.float32(35.0), colour)
        mouth_dir = head.forward * 0.9 - head.up * 0.45
        mouth_dir /= np.linalg.norm(mouth_dir)
        colour = np.where((normal @ mouth_dir > 0.99)[..., None] & ~is_hair[..., None],
                          np.asarray(head.skin, np.float32) * 0.6, colour)
        self._paint(sl, inside, coverage, colour * shade[..., None], HEAD)


def render_frame(parts: list, cam: Camera, background: np.ndarray | None) -> Frame:
    """Paint the primitives far to near; return RGB, silhouette and group map.

    With ``background=None`` only the silhouette and group map are made (``rgb`` is None).
    """
    canvas = Canvas(background, (cam.width, cam.height))
    # Project every capsule end, box centre and head centre in one call.
    anchors = []
    for part in parts:
        if isinstance(part, Capsule):
            anchors += [part.a, part.b]
        else:
            anchors += [part.centre, part.centre]
    uv, depth = cam.project(np.stack(anchors))
    uv, depth = uv.reshape(-1, 2, 2), depth.reshape(-1, 2)
    sort_depth = depth.mean(1) + np.array([getattr(p, "depth_bias", 0.0) for p in parts])
    for k in np.argsort(-sort_depth, kind="stable"):
        part = parts[k]
        if isinstance(part, Capsule):
            (a2, b2), (za, zb) = uv[k], depth[k]
            ra = _effective_radius(part.ra, part.axes, cam)
            rb = _effective_radius(part.rb, part.axes, cam)
            canvas.capsule(a2, b2, ra * cam.focal / za, rb * cam.focal / zb, cam.focal / za,
                           cam.focal / zb, part.material, part.group, part.caps)
        elif isinstance(part, Box):
            _paint_box(canvas, part, cam)
        else:
            canvas.head(uv[k, 0], part.radius * cam.focal / depth[k, 0], part, cam)
    rgb = None if canvas.rgb is None else np.clip(canvas.rgb, 0, 255).astype(np.uint8)
    return Frame(rgb, canvas.mask, canvas.groups)


def _paint_box(canvas: Canvas, box: Box, cam: Camera) -> None:
    corners_sign = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)],
                            np.float64)
    corners = box.centre + (corners_sign * box.half) @ box.axes
    uv, _ = cam.project(corners)
    for axis in range(3):
        for sign in (-1.0, 1.0):
            normal = sign * box.axes[axis]
            face_centre = box.centre + normal * box.half[axis]
            if normal @ (cam.position - face_centre) <= 0:
                continue
            idx = np.flatnonzero(corners_sign[:, axis] == sign)
            # order the 4 corners around the face
            quad = uv[idx]
            centre = quad.mean(0)
            quad = quad[np.argsort(np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0]))]
            n_cam = np.array([normal @ cam.right, -(normal @ cam.up), -(normal @ cam.forward)])
            shade = 0.45 + 0.6 * max(0.0, float(n_cam @ np.asarray(LIGHT)))
            canvas.polygon(quad, box.material.colour, shade, box.group)


def joint_visibility(points: dict[str, np.ndarray], i: int, frame: Frame, cam: Camera,
                     rng: np.random.Generator) -> np.ndarray:
    """COCO-17 ``(x, y, confidence)`` for frame ``i`` from the rendered group map.

    Visible joints get confidence 0.8-1.0, joints hidden by another body part (or a face
    joint turned away) 0.3-0.6, joints outside the image 0.
    """
    h, w = frame.mask.shape
    coords = np.stack([points[name][i] for name in COCO_JOINTS])
    uv, _ = cam.project(coords)
    out = np.zeros((len(COCO_JOINTS), 3), np.float32)
    out[:, :2] = uv
    head_c = points["head"][i]
    for j, name in enumerate(COCO_JOINTS):
        x, y = int(round(uv[j, 0])), int(round(uv[j, 1]))
        if not (0 <= x < w and 0 <= y < h):
            continue
        visible = frame.groups[y, x] in JOINT_GROUPS[name]
        if name in FACE_JOINTS:
            outward = coords[j] - head_c
            visible &= bool(outward @ (cam.position - coords[j]) > 0)
        out[j, 2] = rng.uniform(0.8, 1.0) if visible else rng.uniform(0.3, 0.6)
    return out


def make_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A static textured scene: wall with panels, floor, mild noise (uint8 RGB)."""
    wall = rng.uniform(120, 210, 3)
    floor = rng.uniform(70, 150, 3)
    horizon = int(height * rng.uniform(0.5, 0.62))
    img = np.empty((height, width, 3), np.float32)
    rows = np.arange(height, dtype=np.float32)[:, None, None]
    img[:] = wall * (1.0 - 0.12 * rows / height)
    img[horizon:] = floor * (0.85 + 0.25 * (rows[horizon:] - horizon) / max(height - horizon, 1))
    for _ in range(rng.integers(2, 5)):  # doors, windows, posters
        x0, y0 = rng.integers(0, width - 20), rng.integers(0, max(horizon - 30, 1))
        x1, y1 = x0 + rng.integers(15, 70), y0 + rng.integers(20, 80)
        img[y0:min(y1, horizon), x0:x1] = rng.uniform(40, 230, 3)
    for x in np.linspace(0, width, rng.integers(3, 7)):  # floor tile lines
        cv2.line(img, (int(width / 2 + (x - width / 2) * 0.3), horizon), (int(x), height - 1),
                 tuple(float(v) for v in floor * 0.7), 1)
    img += rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


class SensorNoise:
    """Per-frame sensor noise: one Gaussian field drawn per camera, shifted by a random offset
    every frame (drawing 230k normals per frame would cost more than rendering the body)."""

    MARGIN = 24

    def __init__(self, rng: np.random.Generator, height: int, width: int, sigma: float = 2.5):
        self.rng = rng
        self.field = np.round(rng.normal(0, sigma, (height + self.MARGIN, width + self.MARGIN, 3))
                              ).astype(np.int16)
        self.height, self.width = height, width

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        dy, dx = self.rng.integers(0, self.MARGIN, 2)
        noise = self.field[dy:dy + self.height, dx:dx + self.width]
        return np.clip(rgb.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def add_edge_noise(mask: np.ndarray, rng: np.random.Generator, rate: float) -> np.ndarray:
    """Flip a share ``rate`` of the pixels in a 1-pixel band around the silhouette edge, the
    way background subtraction frays real silhouettes."""
    if rate <= 0 or not mask.any():
        return mask.copy()
    m = mask.astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    band = (cv2.dilate(m, kernel) - cv2.erode(m, kernel)).astype(bool)
    flips = band & (rng.random(mask.shape) < rate)
    return mask ^ flips
