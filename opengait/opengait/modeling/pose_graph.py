"""Skeleton graphs and GaitGraph2's multi-input features (OpenGait's ``Graph`` and
``GaitGraphMultiInput``, re-implemented from their definitions).

A graph names its joints' links, its centre joint, the joint each bone starts from
(``connect_joint``) and the left/right swap (``flip_index``); its adjacency ``A`` has one
``(V, V)`` slice per hop distance ``0..max_hop`` (ST-GCN's partition): entry ``[k, i, j]`` is
non-zero when joints i and j are k hops apart, and each column is divided by the number of
joints within ``max_hop`` of that column's joint.

Joint layouts:

- ``coco``: COCO-17, the order of our ``2_pose.pkl`` (nose, eyes, ears, shoulders, elbows, wrists,
  hips, knees, ankles; left before right). Its centre is the nose (joint 0), as in OpenGait.
- ``alphapose`` / ``openpose``: the 18-joint COCO layout of OpenPose and AlphaPose (a neck joint
  1 added, other order). Built for OpenGait's configs; our pretreated roots hold COCO-17 only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gaitcore.errors import ConfigError

_LAYOUTS = {
    "coco": dict(
        num_joints=17, centre=0,
        links=((0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 6), (5, 7), (7, 9), (6, 8),
               (8, 10), (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16)),
        connect_joint=(5, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
        flip_index=(0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)),
    "alphapose": dict(
        num_joints=18, centre=1,
        links=((0, 1), (0, 14), (0, 15), (14, 16), (15, 17), (1, 2), (2, 3), (3, 4), (1, 5),
               (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13)),
        connect_joint=(1, 1, 1, 2, 3, 1, 5, 6, 2, 8, 9, 5, 11, 12, 0, 0, 14, 15),
        flip_index=(0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)),
}
_LAYOUTS["openpose"] = _LAYOUTS["alphapose"]
JOINT_FORMATS = tuple(_LAYOUTS)


@dataclass(frozen=True)
class SkeletonGraph:
    joint_format: str
    num_joints: int
    centre: int
    links: tuple[tuple[int, int], ...]
    connect_joint: tuple[int, ...]
    flip_index: tuple[int, ...]
    max_hop: int

    @property
    def adjacency(self) -> np.ndarray:
        """(max_hop + 1, V, V) float64, see the module docstring."""
        v = self.num_joints
        link = np.eye(v)
        for i, j in self.links:
            link[i, j] = link[j, i] = 1
        hops = np.full((v, v), np.inf)
        reach = np.eye(v)
        for d in range(self.max_hop + 1):     # the first power at which j is reachable from i
            hops[(reach > 0) & np.isinf(hops)] = d
            reach = reach @ link
        within = np.isfinite(hops).astype(np.float64)
        normalised = within / within.sum(0, keepdims=True)
        return np.stack([np.where(hops == d, normalised, 0.0) for d in range(self.max_hop + 1)])


def skeleton_graph(joint_format: str, max_hop: int = 3, where: str = "joint_format") -> SkeletonGraph:
    if joint_format not in _LAYOUTS:
        raise ConfigError(f"{where}: {joint_format!r} is not one of {', '.join(JOINT_FORMATS)}")
    return SkeletonGraph(joint_format, max_hop=max_hop, **_LAYOUTS[joint_format])


def check_joint_count(graph: SkeletonGraph, n_joints: int, where: str) -> None:
    if n_joints != graph.num_joints:
        raise ConfigError(f"{where}: joint_format {graph.joint_format} has {graph.num_joints} joints, "
                          f"but the keypoints hold {n_joints} (our 2_pose.pkl is COCO-17: joint_format coco)")


def multi_input_features(pose: torch.Tensor, graph: SkeletonGraph, dtype: torch.dtype = torch.float32,
                         centre: int | None = None) -> torch.Tensor:
    """GaitGraph2's three inputs of a sequence: (..., T, V, C=3) keypoints (x, y, confidence) ->
    (..., T, V, 3, C + 2) in ``dtype`` (leading dimensions, such as a batch, are kept):

    - joints: ``x, y, conf, x - x_centre, y - y_centre`` (``centre``: the graph's by default);
    - velocity: ``x[t+1] - x[t]``, ``y[t+1] - y[t]``, 0, conf, ``y[t+2] - y[t]`` (the channel that
      would hold ``x[t+2] - x[t]`` carries the confidence instead, as in OpenGait; the last two
      frames have zero motion);
    - bones: the vector from ``connect_joint`` to the joint, 0, conf, and the angle of the
      vector to the y axis (``arccos(by / (|b| + 1e-4))``).
    """
    *lead, t, v, c = pose.shape
    check_joint_count(graph, v, "multi_input_features")
    x = pose                                   # differences in the keypoints' own precision
    centre = graph.centre if centre is None else centre
    out = torch.zeros((*lead, t, v, 3, c + 2), dtype=dtype, device=pose.device)
    out[..., 0, :c] = x
    out[..., 0, c:] = x[..., :2] - x[..., centre:centre + 1, :2]
    # (empty slices when t <= 2: no motion at all)
    out[..., :t - 2, :, 1, :2] = x[..., 1:t - 1, :, :2] - x[..., :t - 2, :, :2]
    out[..., :t - 2, :, 1, 3:] = x[..., 2:, :, :2] - x[..., :t - 2, :, :2]
    out[..., 1, 3] = x[..., 2]
    out[..., 2, :2] = x[..., :2] - x[..., list(graph.connect_joint), :2]
    bones = out[..., 2, :2]                    # the angles in ``dtype``
    length = torch.sqrt(bones[..., 0] ** 2 + bones[..., 1] ** 2) + 0.0001
    out[..., 2, c:c + 2] = torch.acos(bones / length[..., None])
    out[..., 2, 3] = x[..., 2]
    return out
