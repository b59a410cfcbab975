"""HybridGait's pose branch: COCO-17 keypoints -> 17 joint tokens.

Per frame the joints are centred on the hip midpoint and scaled by the body height; joints
below a confidence threshold are masked. ΔJoint is the temporal central difference taken in
the frames' original order, whatever order the sampler returned them in, per frame of the
stored sequence: (x[next] - x[prev]) / (index[next] - index[prev]), so frames the sampler
skipped (``frames_skip_num``) do not inflate it; at each sequence's ends it is the one-sided
difference. Per-joint features (x, y, conf, Δx, Δy) go through a light spatio-temporal graph
network over the COCO skeleton and are max-pooled over the real frames.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from opengait.modeling.modules import frame_mask

# COCO-17 skeleton (the 19 links also used for the skeleton maps).
COCO_LINKS = [(15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
              (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)]
NUM_JOINTS = 17
UPPER_JOINTS = list(range(0, 11))       # face, shoulders, arms (the first 11 in COCO order)
LOWER_JOINTS = list(range(11, 17))      # hips, knees, ankles (the last 6)


def normalized_adjacency() -> torch.Tensor:
    a = torch.eye(NUM_JOINTS)
    for i, j in COCO_LINKS:
        a[i, j] = a[j, i] = 1.0
    d = a.sum(1).rsqrt()
    return d[:, None] * a * d[None, :]


def sort_by_original_order(pose: torch.Tensor, frames: torch.Tensor | None) -> torch.Tensor:
    """Reorder (N, T, ...) frames by their original index (padding, marked -1, goes last)."""
    if frames is None:
        return pose
    t = frames.shape[1]
    key = torch.where(frames < 0, frames.max() + 1, frames)
    # ties (repeated frames) keep their position: key * T + position is unique, so a plain sort
    # is a stable one (and exports to ONNX, which has no stable sort)
    key = key * t + torch.arange(t, device=frames.device)
    order = key.argsort(dim=1)
    return pose.gather(1, order.view(*order.shape, *([1] * (pose.ndim - 2))).expand_as(pose))


POSE_NORMALIZATIONS = ("height", "sequence", "pixels")
PIXEL_SCALE = 100.0            # "pixels": coordinates in units of 100 px


def normalize_pose(pose: torch.Tensor, min_conf: float, mode: str = "height",
                   lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T, 17, 3) pixels -> (xy (N, T, 17, 2) around the hips, valid mask). The scale:

    - ``height``: each frame's own body height (the vertical extent of its seen joints), so
      every frame is one unit tall: proportions stay, the size and its change over a stride go;
    - ``sequence``: the median body height of the sequence's real frames: the size goes, the
      frames' changes of height (legs apart, head bob) stay;
    - ``pixels``: a fixed 100 px: the walker's size in the image stays too (at a fixed camera
      distance, as in CASIA-B, that is the body's height; GaitGraph2 reads raw pixels).
    """
    xy, conf = pose[..., :2], pose[..., 2]
    valid = conf >= min_conf
    w = valid.to(xy.dtype)[..., None]
    hips_ok = valid[..., 11] & valid[..., 12]
    hips = (xy[..., 11, :] + xy[..., 12, :]) / 2
    centroid = (xy * w).sum(-2) / w.sum(-2).clamp_min(1)
    centre = torch.where(hips_ok[..., None], hips, centroid)                      # (N, T, 2)
    big = torch.finfo(xy.dtype).max
    y = xy[..., 1]
    top = torch.where(valid, y, big).amin(-1)
    bottom = torch.where(valid, y, -big).amax(-1)
    measured = valid.sum(-1) >= 2
    height = torch.where(measured, bottom - top, torch.ones_like(top)).clamp_min(1e-3)   # (N, T)
    if mode == "sequence":
        real = measured if lengths is None else measured & (
            torch.arange(pose.shape[1], device=pose.device)[None, :] < lengths.to(pose.device)[:, None])
        median = torch.where(real, height, torch.full_like(height, float("nan"))).nanquantile(0.5, dim=1)
        height = torch.nan_to_num(median, nan=1.0).clamp_min(1e-3)[:, None].expand_as(height)
    elif mode == "pixels":
        height = torch.full_like(height, PIXEL_SCALE)
    elif mode != "height":
        raise ValueError(f"pose normalization {mode!r} is not one of {', '.join(POSE_NORMALIZATIONS)}")
    out = (xy - centre[..., None, :]) / height[..., None, None]
    return out * w, valid


def neighbour_indices(n: int, t: int, lengths: torch.Tensor | None, device
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T) positions of each frame's neighbours: the previous and next real frame, or the
    frame itself at a sequence's first / last real frame (a one-sided difference there)."""
    steps = torch.arange(t, device=device)
    last = (lengths.to(device) - 1) if lengths is not None else torch.full((n,), t - 1, device=device)
    prev_idx = (steps[None, :] - 1).clamp_min(0).expand(n, t)
    next_idx = torch.minimum(steps[None, :] + 1, last[:, None]).clamp_min(0)
    return prev_idx, next_idx


def gather_frames(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    shape = idx.shape + (1,) * (x.ndim - 2)
    return x.gather(1, idx.reshape(shape).expand_as(x))


def temporal_neighbours(x: torch.Tensor, lengths: torch.Tensor | None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each frame's previous and next frame (the frame itself at each sequence's real ends)."""
    prev_idx, next_idx = neighbour_indices(x.shape[0], x.shape[1], lengths, x.device)
    return gather_frames(x, prev_idx), gather_frames(x, next_idx)


def delta_joint(x: torch.Tensor, lengths: torch.Tensor | None,
                frames: torch.Tensor | None = None) -> torch.Tensor:
    """ΔJoint of x (N, T, ...) in frame order: (x[next] - x[prev]) / (f[next] - f[prev]), with
    ``frames`` (N, T) the frames' indices in the stored sequence (consecutive when None);
    the neighbours of a sequence's first / last real frame are the frame itself and its one
    neighbour (a one-sided difference). A sequence of one frame has Δ = 0."""
    n, t = x.shape[:2]
    prev_idx, next_idx = neighbour_indices(n, t, lengths, x.device)
    if frames is None:
        frames = torch.arange(t, device=x.device).expand(n, t)
    f = frames.to(x.dtype)
    gap = f.gather(1, next_idx) - f.gather(1, prev_idx)                          # (N, T)
    gap = torch.where(gap > 0, gap, torch.ones_like(gap))
    diff = gather_frames(x, next_idx) - gather_frames(x, prev_idx)
    return diff / gap.view(n, t, *([1] * (x.ndim - 2)))


class GraphTemporalBlock(nn.Module):
    """Graph convolution over the joints, then a 3-frame temporal convolution (padded frames
    zeroed first), each with BatchNorm; residual. x (N, C, T, V)."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor):
        super().__init__()
        self.register_buffer("adjacency", adjacency, persistent=False)
        self.spatial = nn.Conv2d(in_channels, out_channels, 1)
        self.spatial_bn = nn.BatchNorm2d(out_channels)
        self.temporal = nn.Conv2d(out_channels, out_channels, (3, 1), padding=(1, 0))
        self.temporal_bn = nn.BatchNorm2d(out_channels)
        self.residual = (nn.Identity() if in_channels == out_channels else
                         nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels)))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        y = torch.einsum("nctv,vw->nctw", self.spatial(x), self.adjacency)
        y = self.relu(self.spatial_bn(y))
        if mask is not None:
            y = y * mask[:, None, :, None].to(y.dtype)
        y = self.temporal_bn(self.temporal(y))
        return self.relu(y + self.residual(x))


class PoseBranch(nn.Module):
    """(N, T, 17, 3) keypoints -> (joint tokens (N, 17, C), joint mask (N, 17))."""

    def __init__(self, channels=(32, 64, 128), delta_joint: bool = True, min_conf: float = 0.3,
                 normalization: str = "height"):
        super().__init__()
        self.use_delta, self.min_conf, self.normalization = delta_joint, min_conf, normalization
        in_channels = 5 if delta_joint else 3
        self.input_bn = nn.BatchNorm1d(in_channels * NUM_JOINTS)
        adjacency = normalized_adjacency()
        blocks, c = [], in_channels
        for out in channels:
            blocks.append(GraphTemporalBlock(c, out, adjacency))
            c = out
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = c

    def joint_features(self, pose: torch.Tensor, frames: torch.Tensor | None,
                       lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, T, 17, F) features in original frame order and the (N, T, 17) valid mask."""
        pose = sort_by_original_order(pose.float(), frames)
        ordered = None if frames is None else sort_by_original_order(frames, frames)
        xy, valid = normalize_pose(pose, self.min_conf, self.normalization, lengths)
        conf = pose[..., 2:3] * valid[..., None]
        feats = [xy, conf]
        if self.use_delta:
            prev_ok, next_ok = temporal_neighbours(valid, lengths)   # Δ only from seen joints
            feats.append(delta_joint(xy, lengths, ordered) * (valid & prev_ok & next_ok)[..., None])
        return torch.cat(feats, dim=-1), valid

    def forward(self, pose: torch.Tensor, frames: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        feats, valid = self.joint_features(pose, frames, lengths)       # (N, T, V, F)
        n, t, v, f = feats.shape
        mask = frame_mask(lengths, t, feats.device)
        x = self.input_bn(feats.permute(0, 3, 2, 1).reshape(n, f * v, t)).view(n, f, v, t)
        x = x.permute(0, 1, 3, 2).contiguous()                          # (N, F, T, V)
        if mask is not None:
            x = x * mask[:, None, :, None].to(x.dtype)
        for block in self.blocks:
            x = block(x, mask)
        if mask is not None:
            x = x.masked_fill(~mask[:, None, :, None], torch.finfo(x.dtype).min)
        tokens = x.max(dim=2).values.transpose(1, 2)                    # (N, V, C)
        real = valid if mask is None else valid & mask[..., None]
        return tokens, real.any(dim=1)                                  # joint seen at least once


POSE_ENCODERS = ("light", "resgcn")


class ResGCNPoseBranch(nn.Module):
    """The keypoint branch with GaitGraph2's encoder (``pose_encoder: resgcn``): three inputs per
    joint -- position (x, y, conf), ΔJoint (Δx, Δy, conf; left out with ``delta_joint: false``)
    and bone (the vector from the joint it hangs from, its angle to the vertical, conf) -- each
    through its own ResGCN input branch, concatenated, a ResGCN main stream (9-frame temporal
    convolutions, temporal stride 2 where the width grows), then the max over the remaining
    frames per joint: 17 joint tokens. Positions are normalised as ``normalization`` says.
    Sequences of different lengths in one batch run apart (the strided convolutions would let
    padding in)."""

    def __init__(self, delta_joint: bool = True, min_conf: float = 0.3, normalization: str = "pixels",
                 input_branch=(64, 32), main_stream=(32, 128, 256), reduction: int = 8):
        super().__init__()
        from opengait.modeling.gaitgraph2 import ResGCNInputBranch, ResGCNModule
        from opengait.modeling.pose_graph import skeleton_graph
        self.use_delta, self.min_conf, self.normalization = delta_joint, min_conf, normalization
        self.graph = skeleton_graph("coco", max_hop=3)
        A = torch.tensor(self.graph.adjacency, dtype=torch.float32)
        inputs = (3, 3, 4) if delta_joint else (3, 4)
        self.head = nn.ModuleList(ResGCNInputBranch([c, *input_branch], "Bottleneck", A, reduction)
                                  for c in inputs)
        stream = [ResGCNModule(input_branch[-1] * len(inputs), main_stream[1], "Bottleneck", A,
                               reduction=reduction, get_res=True)]
        for i in range(1, len(main_stream) - 1):
            stride = 1 if main_stream[i] == main_stream[i + 1] else 2
            stream.append(ResGCNModule(main_stream[i], main_stream[i + 1], "Bottleneck", A, stride=stride,
                                       reduction=reduction))
        self.stream = nn.ModuleList(stream)
        self.register_buffer("adjacency", A.clone(), persistent=False)
        self.out_channels = main_stream[-1]

    def joint_inputs(self, pose: torch.Tensor, frames: torch.Tensor | None,
                     lengths: torch.Tensor | None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The branches' inputs, each (N, C, T, V), in original frame order, and the valid mask."""
        pose = sort_by_original_order(pose.float(), frames)
        ordered = None if frames is None else sort_by_original_order(frames, frames)
        xy, valid = normalize_pose(pose, self.min_conf, self.normalization, lengths)
        conf = pose[..., 2:3] * valid[..., None]
        feats = [torch.cat([xy, conf], -1)]
        if self.use_delta:
            prev_ok, next_ok = temporal_neighbours(valid, lengths)
            delta = delta_joint(xy, lengths, ordered) * (valid & prev_ok & next_ok)[..., None]
            feats.append(torch.cat([delta, conf], -1))
        parent = list(self.graph.connect_joint)
        bone = (xy - xy[..., parent, :]) * (valid & valid[..., parent])[..., None]
        length = bone.norm(dim=-1, keepdim=True) + 1e-4
        feats.append(torch.cat([bone, torch.acos((bone[..., 1:2] / length).clamp(-1, 1)), conf], -1))
        return [f.permute(0, 3, 1, 2).contiguous() for f in feats], valid

    def encode(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([branch(f) for branch, f in zip(self.head, inputs)], dim=1)
        for layer in self.stream:
            x = layer(x, self.adjacency)
        return x.max(dim=2).values.transpose(1, 2)                  # (N, V, C)

    def forward(self, pose: torch.Tensor, frames: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, valid = self.joint_inputs(pose, frames, lengths)
        t = pose.shape[1]
        if lengths is None or bool((lengths == t).all()):
            tokens = self.encode(inputs)
        else:
            tokens = None
            for length in lengths.unique().tolist():
                rows = (lengths == length).nonzero(as_tuple=True)[0]
                part = self.encode([f[rows, :, :length] for f in inputs])
                if tokens is None:
                    tokens = part.new_zeros((pose.shape[0], *part.shape[1:]))
                tokens[rows] = part
        mask = frame_mask(lengths, t, pose.device)
        real = valid if mask is None else valid & mask[..., None]
        return tokens, real.any(dim=1)

