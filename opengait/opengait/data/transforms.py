"""Sequence transforms, applied to all modalities of one sequence with one set of random
parameters (a flip flips the silhouettes, the skeleton maps and the keypoints together).

Image modalities are ``1_sil`` (T, H, W) and ``0_heatmap`` (T, C, H, W); ``2_pose`` (T, 17, 3)
keypoints follow flips and rotations. A transform is ``fn(data, rng) -> data`` on numpy arrays.
The YAML names are OpenGait's (``BaseSilCuttingTransform``, ``RandomRotate``, ...).
"""
from __future__ import annotations

import inspect
from typing import Callable

import cv2
import numpy as np

from gaitcore.pretreated_io import POSE
from gaitcore.errors import ConfigError
from opengait.config_keys import check_kwargs
from opengait.registry import Registry

TRANSFORMS = Registry("transform", "transform", ("opengait.data.pose_transforms",))

# COCO-17 left/right pairs, swapped by a horizontal flip.
FLIP_PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]
_FLIP_ORDER = np.arange(17)
for _a, _b in FLIP_PAIRS:
    _FLIP_ORDER[_a], _FLIP_ORDER[_b] = _b, _a


def _is_image(name: str, array: np.ndarray) -> bool:
    return name != POSE and array.ndim in (3, 4)


def map_modalities(data: dict, image: Callable[[str, np.ndarray], np.ndarray] | None = None,
                   pose: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
    """A new sequence dict: ``image(name, array)`` applied to each image modality, ``pose(array)``
    to the keypoints; a modality without a function is passed on unchanged."""
    out = {}
    for name, array in data.items():
        if image is not None and _is_image(name, array):
            array = image(name, array)
        elif pose is not None and name == POSE:
            array = pose(array)
        out[name] = array
    return out


def per_frame(array: np.ndarray, op: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``op`` on every (H, W) frame of a (T, H, W) or (T, C, H, W) array; the result keeps the
    leading axes and takes the frames' new height and width."""
    frames = np.stack([op(f) for f in array.reshape(-1, *array.shape[-2:])])
    return frames.reshape(*array.shape[:-2], *frames.shape[-2:])


@TRANSFORMS.register()
class BaseSilCuttingTransform:
    """Cut ``W // 64 * 10`` columns off each side (64 -> 44) and scale images to [0, 1].

    ``img_w`` (written in some OpenGait configs, which OpenGait itself ignores) states the
    expected input width: images of another width are refused."""

    def __init__(self, divsor: float = 255.0, cutting: int | None = None, img_w: int | None = None):
        self.divsor, self.cutting, self.img_w = float(divsor), cutting, img_w

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        def cut_and_scale(name: str, array: np.ndarray) -> np.ndarray:
            if self.img_w is not None and array.shape[-1] != self.img_w:
                raise ConfigError(f"BaseSilCuttingTransform.img_w: {self.img_w}, but the {name} "
                                  f"frames are {array.shape[-1]} wide")
            cut = self.cutting if self.cutting is not None else int(array.shape[-1] // 64) * 10
            array = array[..., cut:array.shape[-1] - cut] if cut > 0 else array
            return array.astype(np.float32) / self.divsor
        return map_modalities(data, image=cut_and_scale)


@TRANSFORMS.register()
class BaseSilTransform(BaseSilCuttingTransform):
    """Scale images to [0, 1] without cutting (``img_shape`` [H, W]: the frames must have it)."""

    def __init__(self, divsor: float = 255.0, img_shape=None):
        super().__init__(divsor, cutting=0)
        self.img_shape = None if img_shape is None else tuple(int(v) for v in img_shape)

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        for name, array in data.items():
            if self.img_shape is not None and _is_image(name, array) and array.shape[-2:] != self.img_shape:
                raise ConfigError(f"BaseSilTransform.img_shape: {list(self.img_shape)}, but the {name} "
                                  f"frames are {list(array.shape[-2:])}")
        return super().__call__(data, rng)


@TRANSFORMS.register()
class Resize:
    """Resize every image modality to ``size`` = [height, width] (area interpolation): a
    smaller input for CPU-sized experiments, e.g. [32, 22] after cutting 64x44."""

    def __init__(self, size=(32, 22)):
        if len(size) != 2:
            raise ConfigError(f"Resize.size: expected [height, width], got {size!r}")
        self.height, self.width = int(size[0]), int(size[1])

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        def resize(name: str, array: np.ndarray) -> np.ndarray:
            if array.shape[-2:] == (self.height, self.width):
                return array
            return per_frame(array, lambda f: cv2.resize(f, (self.width, self.height), interpolation=cv2.INTER_AREA))
        return map_modalities(data, image=resize)


@TRANSFORMS.register()
class NoOperation:
    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        return data


@TRANSFORMS.register()
class RandomHorizontalFlip:
    def __init__(self, prob: float = 0.5):
        self.prob = prob

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        if rng.random() >= self.prob:
            return data

        def mirror_keypoints(array: np.ndarray) -> np.ndarray:
            array = array[:, _FLIP_ORDER].copy()
            array[..., 0] = -array[..., 0]   # mirror; models centre poses on the hips
            return array
        return map_modalities(data, image=lambda name, array: np.ascontiguousarray(array[..., ::-1]),
                              pose=mirror_keypoints)


@TRANSFORMS.register()
class RandomRotate:
    """Rotate every frame by one random angle in [-degree, degree] about the image centre;
    keypoints about each frame's hip midpoint (the same rotation up to a shift)."""

    def __init__(self, prob: float = 0.5, degree: float = 10.0):
        self.prob, self.degree = prob, degree

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        if rng.random() >= self.prob:
            return data
        angle = float(rng.uniform(-self.degree, self.degree))

        def rotate_images(name: str, array: np.ndarray) -> np.ndarray:
            h, w = array.shape[-2:]
            m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
            return per_frame(array, lambda f: cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR))

        def rotate_keypoints(array: np.ndarray) -> np.ndarray:
            array = array.copy()
            hips = array[:, 11:13, :2].mean(1, keepdims=True)
            a = np.radians(angle)  # cv2: positive = counter-clockwise on screen (y down)
            rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]], np.float32)
            array[..., :2] = (array[..., :2] - hips) @ rot.T + hips
            return array
        return map_modalities(data, image=rotate_images, pose=rotate_keypoints)


@TRANSFORMS.register()
class RandomPerspective:
    """Shift the top and bottom edges sideways by up to ``shift`` of the width (images only)."""

    def __init__(self, prob: float = 0.5, shift: float = 0.1):
        self.prob, self.shift = prob, shift

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        if rng.random() >= self.prob:
            return data
        d = rng.uniform(-self.shift, self.shift, 4)

        def warp(name: str, array: np.ndarray) -> np.ndarray:
            h, w = array.shape[-2:]
            src = np.float32([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]])
            dst = src + np.float32([[d[0] * w, 0], [d[1] * w, 0], [d[2] * w, 0], [d[3] * w, 0]])
            m = cv2.getPerspectiveTransform(src, dst)
            return per_frame(array, lambda f: cv2.warpPerspective(f, m, (w, h), flags=cv2.INTER_LINEAR))
        return map_modalities(data, image=warp)


@TRANSFORMS.register()
class RandomErasing:
    """Zero one random rectangle (area share in [sl, sh], aspect in [r1, 1/r1]) in every frame."""

    def __init__(self, prob: float = 0.5, sl: float = 0.05, sh: float = 0.2, r1: float = 0.3):
        self.prob, self.sl, self.sh, self.r1 = prob, sl, sh, r1

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        if rng.random() >= self.prob:
            return data
        area_share = rng.uniform(self.sl, self.sh)
        aspect = rng.uniform(self.r1, 1 / self.r1)
        pos = rng.random(2)

        def erase(name: str, array: np.ndarray) -> np.ndarray:
            h, w = array.shape[-2:]
            eh = min(h, max(1, int(round(np.sqrt(area_share * h * w * aspect)))))
            ew = min(w, max(1, int(round(np.sqrt(area_share * h * w / aspect)))))
            y, x = int(pos[0] * (h - eh + 1)), int(pos[1] * (w - ew + 1))
            array = array.copy()
            array[..., y:y + eh, x:x + ew] = 0
            return array
        return map_modalities(data, image=erase)


def build_transform(specs: list | dict | None, where: str) -> Callable[[dict, np.random.Generator], dict]:
    """A composed transform from YAML: a list of ``{type: Name, **kwargs}`` (``Compose`` with a
    ``trf_cfg`` list is flattened, as in OpenGait configs)."""
    if specs is None:
        specs = []
    if isinstance(specs, dict):
        specs = [specs]
    steps = []
    for spec in specs:
        if not isinstance(spec, dict) or "type" not in spec:
            raise ConfigError(f"{where}: each transform needs a 'type'")
        kwargs = {k: v for k, v in spec.items() if k != "type"}
        if spec["type"] == "Compose":
            steps.append(build_transform(kwargs.get("trf_cfg", []), where))
            continue
        cls = TRANSFORMS.get(spec["type"], where)
        check_kwargs(spec["type"], kwargs, inspect.signature(cls).parameters, where)
        steps.append(cls(**kwargs))

    def apply(data: dict, rng: np.random.Generator) -> dict:
        for step in steps:
            data = step(data, rng)
        return data
    return apply
