"""Study v3's design: the models, the populations, the seeds and the comparisons.

Populations and training seeds are separate: population ``p`` is the generator run with data
seed ``POPULATION_SEED_BASE + p`` (its people, clothes and keypoint errors); each model trains on
it with training seeds ``0 .. T-1`` (sampler, augmentation, initialisation). Tuning populations
(calibration, diagnosis, the pilot) use other data seeds (100-399), never these.
"""
from __future__ import annotations

from dataclasses import dataclass

POPULATION_SEED_BASE = 1000              # confirmatory populations: 1000, 1001, ...
PILOT_SEEDS = (300, 301, 302)            # the pilot's tuning populations
HYBRID = "opengait/configs/hybridgait/hybridgait_synthetic.yaml"
HYBRID_CCVID = "opengait_ccvid/configs/hybridgait_ccvid_synthetic.yaml"
# The HybridGait of study v3: every part on, whatever the shipped config defaults to, and the
# keypoint branch chosen on tuning populations (docs/results.md, "The benchmark and study v3").
FULL_HYBRID = ("model_cfg.pose_branch=true", "model_cfg.delta_joint=true", "model_cfg.ul_weighting=true",
               "model_cfg.fusion=cross_attention", "model_cfg.visual_branch=true")
POSE_PATH = ("model_cfg.pose_encoder=resgcn", "model_cfg.pose_normalization=pixels")
SGPP_SWITCHES = ("model_cfg.pose_branch=false", "model_cfg.fusion=attention_gate", "model_cfg.ul_weighting=false")


@dataclass(frozen=True)
class Variant:
    name: str
    config: str
    sets: tuple[str, ...] = ()
    augmented: bool = False              # ccvid: train with the oracle clothing augmentation


def hybrid(name: str, *changes: str, config: str = HYBRID, augmented: bool = False) -> Variant:
    return Variant(name, config, FULL_HYBRID + POSE_PATH + changes, augmented)


CASIA_MODELS = {v.name: v for v in (
    Variant("GaitBase", "opengait/configs/gaitbase/gaitbase_synthetic.yaml"),
    Variant("DeepGaitV2", "opengait/configs/deepgaitv2/deepgaitv2_synthetic.yaml"),
    Variant("SkeletonGait++", "opengait/configs/skeletongait/skeletongait++_synthetic.yaml"),
    hybrid("HybridGait"),
    hybrid("HybridGait w/o cross-attn", "model_cfg.fusion=attention_gate"),
    hybrid("HybridGait w/o ΔJoint", "model_cfg.delta_joint=false"),
    hybrid("HybridGait w/o UL", "model_cfg.ul_weighting=false"),
    hybrid("HybridGait w/o pose branch", "model_cfg.pose_branch=false"),
    hybrid("Pose only", "model_cfg.visual_branch=false"),
    Variant("GaitGraph2", "opengait/configs/gaitgraph2/gaitgraph2_synthetic.yaml"),
    Variant("SkeletonGait", "opengait/configs/skeletongait/skeletongait_synthetic.yaml"),
)}
CCVID_MODELS = {v.name: v for v in (
    hybrid("HybridGait", config=HYBRID_CCVID),
    hybrid("HybridGait + oracle aug", config=HYBRID_CCVID, augmented=True),
    Variant("SkeletonGait++", HYBRID_CCVID, FULL_HYBRID + SGPP_SWITCHES),
    Variant("SkeletonGait++ + oracle aug", HYBRID_CCVID, FULL_HYBRID + SGPP_SWITCHES, augmented=True),
)}
# Paired comparisons (label, a, b): a - b. The first two are the primary questions.
PRIMARY = [("HybridGait - SkeletonGait++", "HybridGait", "SkeletonGait++")]
PARTS = [(f"HybridGait - {v}", "HybridGait", v) for v in
         ("HybridGait w/o cross-attn", "HybridGait w/o ΔJoint", "HybridGait w/o UL", "HybridGait w/o pose branch")]
CASIA_PAIRS = PRIMARY + PARTS + [
    ("HybridGait - GaitBase", "HybridGait", "GaitBase"),
    ("HybridGait - DeepGaitV2", "HybridGait", "DeepGaitV2"),
    ("SkeletonGait++ - GaitBase", "SkeletonGait++", "GaitBase"),
    ("Pose only - GaitGraph2", "Pose only", "GaitGraph2"),
]
CCVID_PAIRS = [("HybridGait: oracle aug - none", "HybridGait + oracle aug", "HybridGait"),
               ("SkeletonGait++: oracle aug - none", "SkeletonGait++ + oracle aug", "SkeletonGait++"),
               ("HybridGait - SkeletonGait++ (no aug)", "HybridGait", "SkeletonGait++")]
CONDITIONS = ("NM", "BG", "CL")
CCVID_METRICS = ("test/ccvid_cc/rank1", "test/ccvid_cc/mAP", "test/ccvid_general/rank1", "test/ccvid_general/mAP")
# Effects the study is sized to detect with 80% power (rank-1 points).
TARGET_EFFECT = {"CL": 3.0, "mean": 2.0}
AUGMENT = {"fraction": 0.25, "variants": 10, "share": 0.25}
# The calibrated benchmark (benchmarks/calibrate_benchmark.py, docs/results.md, "The benchmark and study v3"):
# CASIA-B's conditions and size (124 ids: 74 train, 50 test), six views, a stride and more per
# sequence, the v4 wardrobe (v3's garments at CASIA-B-like shares: with v3, GaitBase's CL / NM was
# 0.48, far below target (a)) and the keypoint error calibrated against yolo11n-pose with its
# shared constant errors; 3000 iterations (the loss still falls at 1500).
ITERATIONS = 3000
CASIA_GENERATOR = dict(subjects=124, views="000,036,072,108,144,180", frames=30, keypoint_noise="estimator_v3",
                       wardrobe="v4")
CCVID_GENERATOR = dict(subjects=60, frames=30, keypoint_noise="estimator_v3", wardrobe="v3")
