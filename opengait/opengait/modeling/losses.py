"""Losses, chosen in YAML (``loss_cfg``) and matched to the model's ``training_feat`` by
``log_prefix`` (OpenGait's scheme). Each loss returns ``(loss, info)``; ``info`` holds the
values logged as ``scalar/<log_prefix>/<name>``.
"""
from __future__ import annotations

import inspect

import torch
import torch.nn as nn
import torch.nn.functional as F

from gaitcore.errors import ConfigError
from opengait.config_keys import check_kwargs
from opengait.registry import Registry

LOSSES = Registry("loss", "loss_cfg.type")


def part_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Euclidean distances per part: (N, C, P) -> (P, N, N)."""
    x = embeddings.float().permute(2, 0, 1)                         # (P, N, C)
    sq = (x ** 2).sum(-1)
    d2 = sq[:, :, None] + sq[:, None, :] - 2 * torch.bmm(x, x.transpose(1, 2))
    return F.relu(d2).sqrt()


@LOSSES.register()
class TripletLoss(nn.Module):
    """Batch-all triplet loss per part (margin 0.2 in the shipped configs).

    Over every (anchor, positive, negative) triple of the batch, per part, the hinge
    ``relu(d(a, p) - d(a, n) + margin)``; the loss of a part is the mean over its non-zero
    terms (0 if none), and the reported loss is the mean over parts. Positives include the
    anchor itself, as in OpenGait. Logged: ``loss``, ``hard_loss`` (the largest term),
    ``loss_num`` (non-zero terms) and ``mean_dist`` (mean pairwise distance), all part means.
    """

    def __init__(self, margin: float = 0.2, loss_term_weight: float = 1.0):
        super().__init__()
        self.margin, self.loss_term_weight = margin, loss_term_weight

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        dist = part_distances(embeddings)                            # (P, N, N)
        same = labels[:, None] == labels[None, :]                    # (N, N)
        anchor, positive = same.nonzero(as_tuple=True)               # every positive pair
        # terms[p, k, j] = d(a_k, i_k) - d(a_k, j) + margin, kept for negatives j of a_k
        terms = F.relu(dist[:, anchor, positive][:, :, None] - dist[:, anchor, :] + self.margin)
        terms = terms * (~same[anchor]).to(terms.dtype)[None]
        num = (terms > 0).flatten(1).sum(1).float()                  # (P,)
        loss = terms.flatten(1).sum(1) / num.clamp_min(1.0)
        info = {"loss": loss.detach().mean(), "hard_loss": terms.flatten(1).max(1).values.detach().mean(),
                "loss_num": num.mean(), "mean_dist": dist.detach().mean()}
        return loss.mean(), info


@LOSSES.register()
class CrossEntropyLoss(nn.Module):
    """Cross-entropy on every part's (cosine) logits times ``scale``, with label smoothing 0.1
    when ``label_smooth``; ``accuracy`` = share of (sequence, part) pairs classified right."""

    def __init__(self, scale: float = 16.0, label_smooth: bool = True, eps: float = 0.1,
                 log_accuracy: bool = False, loss_term_weight: float = 1.0):
        super().__init__()
        self.scale, self.eps = scale, eps if label_smooth else 0.0
        self.log_accuracy, self.loss_term_weight = log_accuracy, loss_term_weight

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        n, _, p = logits.shape
        target = labels[:, None].expand(n, p)
        loss = F.cross_entropy(logits.float() * self.scale, target, label_smoothing=self.eps)
        info = {"loss": loss.detach()}
        if self.log_accuracy:
            info["accuracy"] = (logits.argmax(1) == target).float().mean()
        return loss, info


@LOSSES.register("SupConLoss_Lp")
class SupConLossLp(nn.Module):
    """Supervised contrastive loss on L2 distances (GaitGraph2's loss, OpenGait's
    ``SupConLoss_Lp``; Khosla et al. 2020 with Euclidean similarity).

    Features are L2-normalised; the similarity of two sequences is minus their distance over
    ``temperature``. For each anchor the loss is minus the mean, over the other sequences of its
    id, of the log-softmax of their similarity among all other sequences of the batch. Anchors
    whose loss is 0 (no other sequence of their id) are left out of the mean, as in OpenGait; a
    batch without any positive pair gives 0 (OpenGait: NaN). Logged: ``loss``.
    """

    def __init__(self, temperature: float = 0.01, loss_term_weight: float = 1.0):
        super().__init__()
        self.temperature, self.loss_term_weight = float(temperature), loss_term_weight

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        x = F.normalize(features.float().flatten(1), p=2, dim=1)
        sim = -torch.cdist(x, x, p=2) / self.temperature
        sim = sim - sim.max(dim=1, keepdim=True).values.detach()
        others = ~torch.eye(len(x), dtype=torch.bool, device=x.device)
        positive = (labels[:, None] == labels[None, :]) & others
        log_prob = sim - torch.log((sim.exp() * others).sum(1, keepdim=True))
        per_anchor = -(positive * log_prob).sum(1) / (positive.sum(1) + torch.finfo(sim.dtype).tiny)
        kept = per_anchor[per_anchor > 0]
        loss = kept.mean() if kept.numel() else (x * 0.0).sum()
        return loss, {"loss": loss.detach()}


class LossAggregator(nn.Module):
    """The weighted sum of the configured losses over the model's ``training_feat``."""

    def __init__(self, loss_cfg: list | dict):
        super().__init__()
        specs = loss_cfg if isinstance(loss_cfg, list) else [loss_cfg]
        self.losses = nn.ModuleDict()
        for k, spec in enumerate(specs):
            where = f"loss_cfg[{k}]"
            spec = dict(spec)
            kind, prefix = spec.pop("type", None), spec.pop("log_prefix", None)
            cls = LOSSES.get(kind, where)
            if not prefix:
                raise ConfigError(f"{where}: needs a log_prefix (the training_feat key it applies to)")
            if "loss_term_weights" in spec:  # a spelling found in published OpenGait configs
                spec["loss_term_weight"] = spec.pop("loss_term_weights")
            check_kwargs(kind, spec, inspect.signature(cls).parameters, where)
            self.losses[prefix] = cls(**spec)

    def forward(self, training_feat: dict) -> tuple[torch.Tensor, dict]:
        unused = set(training_feat) - set(self.losses)
        if unused:
            raise ConfigError(f"the model produces training_feat {', '.join(sorted(unused))} but "
                              "loss_cfg has no loss with that log_prefix (add one, or switch the "
                              "model option off)")
        missing = set(self.losses) - set(training_feat)
        if missing:
            raise ConfigError(f"loss_cfg: log_prefix {', '.join(sorted(missing))} not produced by "
                              f"the model (it gives {', '.join(training_feat)})")
        total, info = 0.0, {}
        for prefix, loss_fn in self.losses.items():
            loss, values = loss_fn(**training_feat[prefix])
            total = total + loss_fn.loss_term_weight * loss
            for name, value in values.items():
                info[f"scalar/{prefix}/{name}"] = value
        return total, info
