"""HybridGait: SkeletonGait++'s silhouette + skeleton-map branch, a keypoint branch with
ΔJoint, upper/lower-body weighting and cross-attention from body-part tokens to joint tokens.

    silhouettes + skeleton maps --SkeletonGait++ backbone, HPP--> 16 part tokens (8 upper, 8 lower)
    COCO-17 keypoints --normalise, ΔJoint, graph-temporal net, max over time--> 17 joint tokens
    fusion: part tokens attend to joint tokens (pre-norm, multi-head, residual, FFN; optional
            reverse direction), or an attention gate, or concatenation, or nothing
    -> separate FCs -> part embeddings
    UL weighting: softmax of two logits (0.3 / 0.7 at start) scales the upper / lower joints'
            keys and values after their normalisation, and the upper / lower part embeddings
    -> BNNecks -> triplet + cross-entropy (+ optional pose triplet)

Where UL acts, and why there: a per-token scale before a LayerNorm is cancelled by it, and a
per-part scale before the separate FCs is absorbed by them. After the key/value normalisation
it changes how much attention (and how much signal) each body half's joints bring; on the part
embeddings it is the weight of each half in the distance between two walkers (the distance is
the mean per-part distance, so a part scaled by 2w counts 2w times). Equal weights (0.5/0.5)
change nothing.

Every piece is a ``model_cfg`` switch for ablations, and a switched-off piece is not built.
With ``pose_branch: false, fusion: attention_gate, ul_weighting: false`` the model is exactly
SkeletonGait++ (same parameters, same output).
"""
from __future__ import annotations

import inspect
import math

import torch
import torch.nn as nn

from gaitcore.pretreated_io import HEATMAP, POSE

from gaitcore.errors import ConfigError
from opengait.modeling.attention import attention
from opengait.modeling.modules import SeparateBNNecks, SeparateFCs, init_parameters
from opengait.modeling.pose_branch import (LOWER_JOINTS, NUM_JOINTS, POSE_ENCODERS, POSE_NORMALIZATIONS, UPPER_JOINTS,
                                           PoseBranch, ResGCNPoseBranch)
from opengait.modeling.registry import register_model, require_inputs
from opengait.modeling.skeletongait_pp import (SILHOUETTE, add_skeleton_map_trunk, skeleton_map_features,
                                               skeletongait_kwargs)

FUSIONS = ("cross_attention", "attention_gate", "concat", "none")


class CrossAttention(nn.Module):
    """Multi-head attention of ``x`` tokens (queries) over ``context`` tokens (keys/values)."""

    def __init__(self, dim: int, context_dim: int, num_heads: int, head_dim: int):
        super().__init__()
        inner = num_heads * head_dim
        self.num_heads, self.head_dim = num_heads, head_dim
        self.q = nn.Linear(dim, inner, bias=False)
        self.kv = nn.Linear(context_dim, 2 * inner, bias=False)
        self.out = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        b, lq, _ = x.shape
        lk = context.shape[1]
        q = self.q(x).view(b, lq, self.num_heads, self.head_dim).transpose(1, 2)       # (B, H, Lq, d)
        k, v = self.kv(context).view(b, lk, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = attention(q, k, v, key_mask)                                              # (B, H, Lq, d)
        return self.out(out.transpose(1, 2).reshape(b, lq, -1))


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, ratio: float):
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class LayerScale(nn.Module):
    """Per-channel residual scale, small at start (CaiT): a new block starts close to the
    identity, so adding fusion to a SkeletonGait++ branch does not disturb it at first."""

    def __init__(self, dim: int, init: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class CrossAttentionFusion(nn.Module):
    """``depth`` pre-norm blocks: parts <- parts + γ·attn(parts, joints) + γ·FFN; with
    ``bidirectional`` each block first updates the joints from the parts. ``joint_scale``
    (17,) multiplies the joints after their normalisation (UL weighting: keys and values)."""

    def __init__(self, dim: int, joint_dim: int, num_heads: int, head_dim: int, depth: int,
                 bidirectional: bool, ffn_ratio: float, layer_scale: float = 0.1):
        super().__init__()
        self.bidirectional = bidirectional
        self.layers = nn.ModuleList()
        for _ in range(depth):
            layer = nn.ModuleDict({
                "norm_q": nn.LayerNorm(dim), "norm_kv": nn.LayerNorm(joint_dim),
                "attn": CrossAttention(dim, joint_dim, num_heads, head_dim),
                "scale_attn": LayerScale(dim, layer_scale),
                "norm_ffn": nn.LayerNorm(dim), "ffn": FeedForward(dim, ffn_ratio),
                "scale_ffn": LayerScale(dim, layer_scale)})
            if bidirectional:
                layer.update({"rev_norm_q": nn.LayerNorm(joint_dim), "rev_norm_kv": nn.LayerNorm(dim),
                              "rev_attn": CrossAttention(joint_dim, dim, num_heads, head_dim),
                              "rev_norm_ffn": nn.LayerNorm(joint_dim), "rev_ffn": FeedForward(joint_dim, ffn_ratio)})
            self.layers.append(layer)

    def forward(self, parts: torch.Tensor, joints: torch.Tensor, joint_mask: torch.Tensor | None,
                joint_scale: torch.Tensor | None = None):
        # No key masked in the whole batch: no mask, so FlashAttention can run on a GPU. Under
        # torch.compile / ONNX export the mask is always passed (a branch on the data would break
        # the graph); an all-true mask gives the same result.
        tracing = torch.compiler.is_compiling() or torch.compiler.is_exporting()
        key_mask = None if joint_mask is None or (not tracing and bool(joint_mask.all())) else joint_mask
        for layer in self.layers:
            if self.bidirectional:  # joints first look at the parts, then the parts at them
                joints = joints + layer["rev_attn"](layer["rev_norm_q"](joints), layer["rev_norm_kv"](parts), None)
                joints = joints + layer["rev_ffn"](layer["rev_norm_ffn"](joints))
            context = layer["norm_kv"](joints)
            if joint_scale is not None:
                context = context * joint_scale.to(context.dtype)[None, :, None]
            parts = parts + layer["scale_attn"](layer["attn"](layer["norm_q"](parts), context, key_mask))
            parts = parts + layer["scale_ffn"](layer["ffn"](layer["norm_ffn"](parts)))
        return parts


def body_half_context(joints: torch.Tensor, joint_mask: torch.Tensor, n_parts: int) -> torch.Tensor:
    """For each part token, the masked mean of its body half's joint tokens: (N, P, C)."""
    w = joint_mask.to(joints.dtype)[..., None]
    halves = []
    for idx in (UPPER_JOINTS, LOWER_JOINTS):
        num = (joints[:, idx] * w[:, idx]).sum(1)
        halves.append(num / w[:, idx].sum(1).clamp_min(1.0))
    upper, lower = halves
    half = n_parts // 2
    return torch.cat([upper[:, None].expand(-1, half, -1), lower[:, None].expand(-1, n_parts - half, -1)], 1)


class GateFusion(nn.Module):
    """Attention gate between each part token and its body half's pose context: per-channel
    softmax weights over the two streams (as SkeletonGait++ fuses silhouettes and maps)."""

    def __init__(self, dim: int, joint_dim: int, squeeze: int = 4):
        super().__init__()
        self.context = nn.Linear(joint_dim, dim)
        self.score = nn.Sequential(nn.Linear(2 * dim, dim // squeeze), nn.ReLU(inplace=True),
                                   nn.Linear(dim // squeeze, 2 * dim))

    def forward(self, parts, joints, joint_mask, joint_scale=None):
        ctx = self.context(body_half_context(joints, joint_mask, parts.shape[1]))
        w = self.score(torch.cat([parts, ctx], -1)).view(*parts.shape[:2], 2, -1).softmax(dim=2)
        return parts * w[:, :, 0] + ctx * w[:, :, 1]


class ConcatFusion(nn.Module):
    """[part token, body-half pose context] -> linear -> part token (residual)."""

    def __init__(self, dim: int, joint_dim: int):
        super().__init__()
        self.proj = nn.Linear(dim + joint_dim, dim)

    def forward(self, parts, joints, joint_mask, joint_scale=None):
        ctx = body_half_context(joints, joint_mask, parts.shape[1])
        return parts + self.proj(torch.cat([parts, ctx], -1))


@register_model("Hybrid")
class HybridGait(nn.Module):
    """The model of the module docstring. Built by composition: ``backbone``, ``hpp``, ``fcs``
    and ``bnnecks`` carry SkeletonGait++'s names, so its weights (and OpenGait's) load here."""

    def __init__(self, num_classes: int, blocks=(1, 4, 4, 1), C: float = 2, bin_num=(16,),
                 embed_dim: int | None = None, pose_branch: bool = True, visual_branch: bool = True,
                 fusion: str = "cross_attention", delta_joint: bool = True, ul_weighting: bool = True,
                 ul_init=(0.3, 0.7), pose_channels=(32, 64, 128), num_heads: int = 4,
                 head_dim: int = 64, depth: int = 1, bidirectional: bool = False,
                 ffn_ratio: float = 2.0, pose_aux_loss: bool = False, min_joint_conf: float = 0.3,
                 map_channels: int = 2, ul_lr_multiplier: float = 0.1, checkpoint_stages=(),
                 pose_normalization: str = "height", pose_encoder: str = "light"):
        super().__init__()            # (the arguments were checked by from_config when the config loaded)
        self.ul_lr_multiplier = float(ul_lr_multiplier)
        self.num_classes = num_classes
        self.visual, self.fusion_kind = visual_branch, fusion
        self.pose_aux = pose_aux_loss and pose_branch
        # The keypoint branch is built only where its tokens are used.
        self.use_pose = pose_branch and (not visual_branch or fusion != "none" or self.pose_aux)
        if visual_branch:
            parts, token_dim, embed_dim = add_skeleton_map_trunk(self, blocks, C, map_channels, checkpoint_stages,
                                                                 bin_num, embed_dim)
        if self.use_pose:
            self.pose_branch = (ResGCNPoseBranch(delta_joint, min_joint_conf, pose_normalization)
                                if pose_encoder == "resgcn" else
                                PoseBranch(pose_channels, delta_joint, min_joint_conf, pose_normalization))
        if not visual_branch:
            token_dim, parts = self.pose_branch.out_channels, NUM_JOINTS
            embed_dim = embed_dim or token_dim
        self.n_upper = parts // 2 if visual_branch else len(UPPER_JOINTS)
        if visual_branch and self.use_pose and fusion != "none":
            jd = self.pose_branch.out_channels
            if fusion == "cross_attention":
                self.fusion = CrossAttentionFusion(token_dim, jd, num_heads, head_dim, depth,
                                                   bidirectional, ffn_ratio)
            elif fusion == "attention_gate":
                self.fusion = GateFusion(token_dim, jd)
            elif fusion == "concat":
                self.fusion = ConcatFusion(token_dim, jd)
        if ul_weighting:
            self.ul_logits = nn.Parameter(torch.log(torch.tensor([float(v) for v in ul_init])))
        self.fcs = SeparateFCs(parts, token_dim, embed_dim)
        self.bnnecks = SeparateBNNecks(parts, embed_dim, num_classes)
        if self.pose_aux:
            self.pose_fcs = SeparateFCs(NUM_JOINTS, self.pose_branch.out_channels, embed_dim)
        init_parameters(self)

    EXTRA_KEYS = ("pose_branch", "visual_branch", "fusion", "delta_joint", "ul_weighting", "ul_init",
                  "pose_channels", "num_heads", "head_dim", "depth", "bidirectional", "ffn_ratio",
                  "pose_aux_loss", "min_joint_conf", "ul_lr_multiplier", "pose_normalization", "pose_encoder")

    @classmethod
    def from_config(cls, cfg: dict, num_classes: int) -> dict:
        kwargs = skeletongait_kwargs(cfg, num_classes, "HybridGait", cls.EXTRA_KEYS)
        for key in ("ul_init", "pose_channels"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        get = cls._resolved(kwargs).__getitem__
        ul = get("ul_init")
        if len(ul) != 2 or min(ul) <= 0 or not math.isclose(sum(ul), 1.0, abs_tol=1e-6):
            raise ConfigError(f"model_cfg.ul_init: two positive weights that sum to 1, got {ul!r}")
        if not 0.0 < get("ul_lr_multiplier") <= 1.0:
            raise ConfigError(f"model_cfg.ul_lr_multiplier: {get('ul_lr_multiplier')} is not in (0, 1]")
        for key, known in (("fusion", FUSIONS), ("pose_encoder", POSE_ENCODERS),
                           ("pose_normalization", POSE_NORMALIZATIONS)):
            if get(key) not in known:
                raise ConfigError(f"model_cfg.{key}: {get(key)!r} is not one of {', '.join(known)}")
        if not (get("visual_branch") or get("pose_branch")):
            raise ConfigError("model_cfg: visual_branch and pose_branch cannot both be off")
        if get("checkpoint_stages") and not get("visual_branch"):
            raise ConfigError("model_cfg.checkpoint_stages: the stages are the visual backbone's, "
                              "which visual_branch: false does not build")
        return kwargs

    @classmethod
    def _resolved(cls, kwargs: dict) -> dict:
        """Constructor arguments with the signature's defaults for those not given."""
        defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()}
        return {**defaults, **kwargs}

    @classmethod
    def input_modalities(cls, cfg: dict) -> tuple[str, ...]:
        """Skeleton maps and silhouettes for the visual branch, keypoints where the keypoint
        branch is built (the rule of ``__init__``)."""
        get = cls._resolved(cls.from_config(cfg, 1)).__getitem__
        visual, pose = get("visual_branch"), get("pose_branch")
        uses_pose = pose and (not visual or get("fusion") != "none" or get("pose_aux_loss"))
        return ((HEATMAP, SILHOUETTE) if visual else ()) + ((POSE,) if uses_pose else ())

    def no_weight_decay(self) -> set[str]:
        """Parameters that take no weight decay: the UL logits, the LayerScale γ, every norm's
        weight and every bias (all parameters of one dimension or less)."""
        return {name for name, p in self.named_parameters() if p.ndim <= 1}

    def lr_multipliers(self) -> dict[str, float]:
        """The UL logits learn at a fraction of the learning rate: two scalars that weigh every
        part's distance move far faster than any weight of the network otherwise (at lr 0.1 they
        saturated the softmax within 60 iterations and training diverged)."""
        return {"ul_logits": self.ul_lr_multiplier} if hasattr(self, "ul_logits") else {}

    def ul_weights(self) -> torch.Tensor | None:
        """Softmax of the two UL logits: (upper, lower)."""
        return self.ul_logits.softmax(0) if hasattr(self, "ul_logits") else None

    @staticmethod
    def half_scale(n: int, n_upper: int, w: torch.Tensor) -> torch.Tensor:
        """(n,) factors: 2 w_upper for the first ``n_upper`` entries, 2 w_lower for the rest
        (equal weights give ones)."""
        return torch.cat([(2 * w[0]).expand(n_upper), (2 * w[1]).expand(n - n_upper)])

    def forward(self, inputs: dict, lengths: torch.Tensor | None = None,
                frames: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> dict:
        w = self.ul_weights()
        joints = joint_mask = None
        if self.use_pose:
            require_inputs(inputs, (POSE,), "HybridGait (pose branch)")
            joints, joint_mask = self.pose_branch(inputs[POSE], frames, lengths)     # (N, 17, Cp)
        if self.visual:
            feat = skeleton_map_features(self.backbone, inputs, lengths, "HybridGait")  # (N, C, h, w)
            parts = self.hpp(feat).transpose(1, 2)                                  # (N, P, C)
            if self.fusion_kind != "none" and self.use_pose:
                joint_scale = None if w is None else self.half_scale(NUM_JOINTS, len(UPPER_JOINTS), w)
                parts = self.fusion(parts, joints, joint_mask, joint_scale)
        else:
            parts = joints
        embed = self.fcs(parts.transpose(1, 2).contiguous())                        # (N, D, P)
        if w is not None:
            embed = embed * self.half_scale(embed.shape[-1], self.n_upper, w).to(embed.dtype)
        _, logits = self.bnnecks(embed)
        out = {"training_feat": {"triplet": {"embeddings": embed, "labels": labels},
                                 "softmax": {"logits": logits, "labels": labels}},
               "visual_summary": {},
               "inference_feat": {"embeddings": embed},
               "log_scalars": {}}
        if self.pose_aux:
            out["training_feat"]["pose_triplet"] = {
                "embeddings": self.pose_fcs(joints.transpose(1, 2).contiguous()), "labels": labels}
        if SILHOUETTE in inputs:
            out["visual_summary"]["image/sils"] = inputs[SILHOUETTE][:, :1]
        if w is not None:
            out["log_scalars"] = {"ul/upper": w[0].detach(), "ul/lower": w[1].detach()}
        return out
