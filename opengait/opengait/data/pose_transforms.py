"""Keypoint transforms of GaitGraph2's configs (OpenGait's names and settings), on the ``2_pose``
modality only: (T, V, 3) keypoints, x and y in pixels and a confidence. Other modalities pass
through unchanged, except that ``FlipSequence`` reverses every modality's frames together.

Random draws come from the sequence's generator, like every transform here (OpenGait draws
from numpy's global one): the same distributions, reproducible per seed.
"""
from __future__ import annotations

import numpy as np
import torch

from gaitcore.pretreated_io import POSE
from gaitcore.errors import ConfigError
from opengait.data.transforms import TRANSFORMS
from opengait.modeling.pose_graph import check_joint_count, multi_input_features, skeleton_graph


def _keypoints(data: dict, name: str) -> np.ndarray:
    pose = data.get(POSE)
    if pose is None:
        raise ConfigError(f"transform {name}: acts on the keypoints (2_pose), which the data in use "
                          f"does not hold ({', '.join(data)})")
    if pose.ndim != 3:
        raise ConfigError(f"transform {name}: expects keypoints (T, V, 3), got shape {pose.shape} "
                          "(GaitGraphMultiInput must come last)")
    return pose


@TRANSFORMS.register()
class NormalizeEmpty:
    """A joint with x exactly 0 (not detected) is moved to the mean of its frame's joints and
    gets confidence 0. Joints are filled in order (frame by frame, joint by joint) and each
    mean includes the joints filled before it, as OpenGait's loop does."""

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        pose = _keypoints(data, "NormalizeEmpty").copy()
        for frame, joint in zip(*np.nonzero(pose[:, :, 0] == 0)):
            centre = pose[frame].mean(axis=0)
            pose[frame, joint, 0], pose[frame, joint, 1], pose[frame, joint, 2] = centre[0], centre[1], 0
        return {**data, POSE: pose}


@TRANSFORMS.register()
class FlipSequence:
    """With ``probability``, play the sequence backwards (every modality)."""

    def __init__(self, probability: float = 0.5):
        self.probability = probability

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        if rng.random() <= self.probability:
            return {name: np.ascontiguousarray(array[::-1]) for name, array in data.items()}
        return data


@TRANSFORMS.register()
class InversePosesPre:
    """Each frame, with ``probability``, swaps the labels of its left and right joints (the
    coordinates stay: a mislabelled estimate, not a mirror image)."""

    def __init__(self, probability: float = 0.5, joint_format: str = "coco"):
        self.probability = probability
        self.graph = skeleton_graph(joint_format, where="InversePosesPre.joint_format")

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        pose = _keypoints(data, "InversePosesPre").copy()
        check_joint_count(self.graph, pose.shape[1], "InversePosesPre")
        swap = list(self.graph.flip_index)
        for t in range(len(pose)):
            if rng.random() <= self.probability:
                pose[t] = pose[t, swap]
        return {**data, POSE: pose}


@TRANSFORMS.register()
class JointNoise:
    """One Gaussian offset (``std`` pixels) per joint, the same in every frame (x and y)."""

    def __init__(self, std: float = 0.25):
        self.std = std

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        pose = _keypoints(data, "JointNoise")
        noise = np.zeros(pose.shape[1:], np.float32)
        noise[:, :2] = rng.normal(0, self.std, (pose.shape[1], 2))
        return {**data, POSE: pose + noise[None]}


@TRANSFORMS.register()
class PointNoise:
    """Independent Gaussian noise (``std``) on every value, the confidence included (as in
    OpenGait)."""

    def __init__(self, std: float = 0.01):
        self.std = std

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        pose = _keypoints(data, "PointNoise")
        return {**data, POSE: pose + rng.normal(0, self.std, pose.shape).astype(np.float32)}


@TRANSFORMS.register()
class RandomMove:
    """One shift of the whole sequence, uniform in ±``random_r`` = [x, y] pixels."""

    def __init__(self, random_r=(4, 1)):
        if len(random_r) != 2:
            raise ConfigError(f"RandomMove.random_r: expected [x, y], got {random_r!r}")
        self.random_r = (float(random_r[0]), float(random_r[1]))

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        pose = _keypoints(data, "RandomMove")
        shift = np.array([rng.uniform(-self.random_r[0], self.random_r[0]),
                          rng.uniform(-self.random_r[1], self.random_r[1]), 0.0])
        return {**data, POSE: (pose + shift).astype(pose.dtype)}


@TRANSFORMS.register()
class GaitGraphMultiInput:
    """(T, V, 3) keypoints -> (T, V, 3, 5) GaitGraph2 inputs (joints, velocities, bones; see
    :func:`opengait.modeling.pose_graph.multi_input_features`), float64 as OpenGait's numpy
    version. ``center`` is the joint the positions are taken relative to (OpenGait's default
    0 for every layout)."""

    def __init__(self, center: int = 0, joint_format: str = "coco"):
        self.graph = skeleton_graph(joint_format, where="GaitGraphMultiInput.joint_format")
        if not 0 <= int(center) < self.graph.num_joints:
            raise ConfigError(f"GaitGraphMultiInput.center: {center} is not a joint of {joint_format}")
        self.center = int(center)

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        pose = _keypoints(data, "GaitGraphMultiInput")
        features = multi_input_features(torch.from_numpy(np.ascontiguousarray(pose)), self.graph,
                                        torch.float64, centre=self.center)
        return {**data, POSE: features.numpy()}
