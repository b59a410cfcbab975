"""Writing synthetic walkers in the raw layouts of CASIA-B, CCVID and GREW.

casia_b::

    videos/<sid>-<type>-<view>.avi                           320x240, 25 fps, MJPG
    silhouettes/<sid>/<type>/<view>/<sid>-<type>-<view>-<frame:03d>.png   frame = video index + 1
    poses/<sid>-<type>-<view>.json                           ground-truth COCO-17 (pose JSON below)
    looks/<sid>-<type>.json                                  what the walk wears (look record below)

ccvid::

    session<k>/<pid>_<cam:02d>/<frame:05d>.jpg               person crops (frame = index + 1)
    train.txt  query.txt  gallery.txt                        "<session>/<pid>_<cam>\\t<pid>\\t<clothes>"
    poses/session<k>/<pid>_<cam>.json                        keypoints in crop pixels
    outfit_prompts.jsonl                                     garments and prompt per outfit (DLCR stage-2 format)
    looks/session<k>/<pid>.json                              what the person wears in the session
    masks/session<k>/<pid>_<cam>/<frame:05d>.png              exact person masks of the crops
    oracle_clothes_masks/<tracklet>/<frame:05d>.png          training tracklets: garment pixels of the
                                                             crops (DLCR stage-3 layout: a perfect parser)
    with --augment-variants, for training tracklets:
    oracle_inpainted/<tracklet>_aug<v>/<frame:05d>.png       re-dressed walks (DLCR stage-4 layout, inpaint.jsonl)
    oracle_masks/<tracklet>_aug<v>/<frame:05d>.png           their person masks

grew::

    train/<id:05d>/<seq>/<frame:05d>.png                      64x64 aligned silhouettes
    train/<id:05d>/<seq>/<frame:05d>_2d_pose.txt              "h,w,x0,y0,c0,...,x16,y16,c16" (53 values)
    train/<id:05d>/<seq>_gei.png
    test/gallery/<id:05d>/<seq>/...   test/probe/<seq>/...
    synthetic_probe_labels.csv                                (synthetic only: probe seq -> id)

Pose JSON (also the ``--pose-from`` format of the preprocessing scripts)::

    {"format": "coco17", "image_size": [w, h], "fps": 25,
     "frames": [{"frame": 1, "keypoints": [[x, y, confidence] x 17]}, ...]}

Look record (``looks/``, both wardrobes; appearance.look_record)::

    {"wardrobe": "v2" | "v3" | "v4", "coat": null | {"kind", "length", "bulk", "flare", "hood", "colour"},
     "bag": null | {"kind", "size", "side", "colour"}, "hat": null | kind,
     "lower": "trousers" | "wide trousers" | "shorts" | "skirt" | "dress",
     "skirt": null | {"length", "flare", "legs"}, "wide": metres, "sleeves": "long" | "short", ...}

(coat and skirt lengths in thigh lengths below the hip, bulk and flare in metres; a
backpack's side only matters to the keypoint error model.)
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from gaitcore.atomic_files import (atomic_path, atomic_write_bytes,
                                   atomic_write_files, atomic_write_text)
from gaitcore.augmented_names import augmented_key, augmented_tracklet
from gaitcore.pose_files import format_grew_pose_txt, format_pose_json
from datasets_preprocess.synthetic.pose_error import (SequenceKeys, apply_pose_error, covered_joints,
                                                     parse_pose_error, shared_offsets)
from gaitcore.pretreated_io import encode_png_gray
from gaitcore.silhouette_alignment import align_silhouettes
from datasets_preprocess.synthetic import appearance as ap
from datasets_preprocess.synthetic import renderer as rd
from datasets_preprocess.synthetic import walker_sequences as ws

CASIA_TYPES = tuple([f"nm-{i:02d}" for i in range(1, 7)] + ["bg-01", "bg-02", "cl-01", "cl-02"])
CASIA_VIEWS = tuple(f"{a:03d}" for a in range(0, 181, 18))
CCVID_VIEWS = ("000", "036", "144", "180")
LAYOUTS = ("casia_b", "ccvid", "grew")


@dataclass(frozen=True)
class GenerationConfig:
    layout: str
    subjects: int
    views: tuple[str, ...]
    types: tuple[str, ...]
    frames: int
    seed: int
    missing_frame_rate: float
    broken_frame_rate: float
    edge_noise: float
    pose_noise_deg: float
    sessions: int = 3
    sequences_per_subject: int = 4
    keypoint_noise: float | str = 0.0  # error model of the written keypoints (pose_error.py)
    augment_fraction: float = 0.0      # ccvid: share of training tracklets re-dressed (oracle)
    augment_variants: int = 0          # ccvid: outfits of other identities per chosen tracklet
    wardrobe: str = "v2"               # appearance.WARDROBES: v2 (the first), v3 / v4 (richer clothes)

    def summary(self) -> dict:
        """Plain JSON types (tuples as lists), comparable with a generation.json record (options
        added later are left out at their default, so older records still compare equal)."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if out["keypoint_noise"] in (0.0, "none"):
            del out["keypoint_noise"]
        if not out["augment_variants"]:
            del out["augment_fraction"], out["augment_variants"]
        if out["wardrobe"] == "v2":
            del out["wardrobe"]
        return out


EXACT_POSES = "poses_exact"        # ground-truth keypoints beside the erred ones (poses/)
LOOKS = "looks"                    # what each walk wears (look records)


def write_look(path: Path, look: ap.Appearance, cfg: "GenerationConfig", **fields) -> None:
    atomic_write_text(path, json.dumps({**fields, **ap.look_record(look, cfg.wardrobe)}, indent=1) + "\n")


def error_context(look: ap.Appearance, keys: SequenceKeys, stream_key: int) -> dict:
    """What the keypoint error of one sequence depends on besides the seed (written with its
    exact keypoints, so datasets_preprocess/synthetic/apply_keypoint_error.py can redo it)."""
    return {"subject": keys.subject, "clothes": keys.clothes, "view": keys.view, "stream_key": stream_key,
            "coat": ap.legs_covered(look), "bag_side": None if look.bag is None else float(look.bag.side)}


def erred_keypoints(keypoints: np.ndarray, spec: float | str, seed: int, context: dict,
                    departure: np.ndarray | None = None) -> np.ndarray:
    """The structured error model ``spec`` applied to one sequence's exact keypoints; its draws
    come from the sequence's own stream and the shared levels' streams only (``departure``: the
    sequence's departure from its template, for a model that pulls towards the other walkers)."""
    model = parse_pose_error(spec)
    if model.is_exact():
        return keypoints
    keys = SequenceKeys(context["subject"], context["clothes"], context["view"])
    covered = covered_joints(context["coat"], context["bag_side"])
    rng = ws.rng_for(seed, ws.STREAM_POSE_ERROR, keys.subject, context["stream_key"], keys.view)
    return apply_pose_error(keypoints, model, rng, covered, keys.view, shared_offsets(seed, keys), departure)


def measured_keypoints(keypoints: np.ndarray, cfg: "GenerationConfig", rng: np.random.Generator,
                       look: ap.Appearance, keys: SequenceKeys, stream_key: int) -> np.ndarray:
    """Keypoints as a pose estimator would report them under the configured error model
    (pose_error.py). The i.i.d. model of the first version draws from ``rng`` as it did, so its
    data stay byte-identical; the structured model draws from its own streams."""
    model = parse_pose_error(cfg.keypoint_noise)
    if model.is_exact():
        return keypoints
    if model.iid:
        covered = covered_joints(ap.legs_covered(look), None if look.bag is None else look.bag.side)
        return apply_pose_error(keypoints, model, rng, covered, keys.view)
    return erred_keypoints(keypoints, cfg.keypoint_noise, cfg.seed, error_context(look, keys, stream_key))


def write_exact_keypoints(out: Path, name: str, keypoints: np.ndarray, numbers, image_size,
                          extra: dict, context: dict, cfg: "GenerationConfig") -> None:
    """With a structured error model, the exact keypoints too: the pose file's fields
    (``extra``) followed by the error context."""
    model = parse_pose_error(cfg.keypoint_noise)
    if model.is_exact() or model.iid:
        return
    atomic_write_text(out / EXACT_POSES / f"{name}.json",
                      format_pose_json(keypoints, numbers, image_size, {**extra, "error_context": context},
                                       exact=True))


@dataclass
class Job:
    """One unit of work (picklable): a walk and the outputs it owes."""

    config: GenerationConfig
    out: str
    subject: int
    key: int                      # type index / session / sequence, per layout
    overwrite: bool = False
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# shared writers

def _png_bytes(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", mask.astype(np.uint8) * 255 if mask.dtype == bool else mask)
    if not ok:
        raise OSError("PNG encoding failed")
    return buf.tobytes()


def _write_video(path: Path, frames_rgb: list) -> None:
    height, width = frames_rgb[0].shape[:2]
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), ws.FPS, (width, height))
        if not writer.isOpened():
            raise OSError(f"{path}: OpenCV cannot open an MJPG video writer")
        for rgb in frames_rgb:
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        writer.release()


def _condition(type_name: str) -> str:
    return type_name.split("-")[0]


def _type_key(type_name: str) -> int:
    cond, number = type_name.split("-")
    return {"nm": 0, "bg": 1, "cl": 2}[cond] * 100 + int(number)


def casia_clothes_key(type_name: str) -> int:
    """Every nm sequence of a subject wears the same outfit; each bg / cl sequence draws its
    own bag / coat over it."""
    return 0 if _condition(type_name) == "nm" else _type_key(type_name)


# ---------------------------------------------------------------------------------------
# CASIA-B

def casia_names(subject: int, type_name: str, view: str) -> tuple[str, str]:
    sid = f"{subject:03d}"
    return sid, f"{sid}-{type_name}-{view}"


def casia_b_job(job: Job) -> Counter:
    cfg, out = job.config, Path(job.out)
    type_name = job.extra["type"]
    stats = Counter()
    todo = []
    for view in cfg.views:
        sid, stem = casia_names(job.subject, type_name, view)
        if not job.overwrite and (out / "poses" / f"{stem}.json").exists():
            stats["sequences_skipped"] += 1
            continue
        todo.append(view)
    sid = f"{job.subject:03d}"
    look_file = out / LOOKS / f"{sid}-{type_name}.json"
    if not todo and look_file.exists():
        return stats
    profile = ws.subject_profile(cfg.seed, job.subject, wardrobe=cfg.wardrobe)
    rng = ws.rng_for(cfg.seed, ws.STREAM_WALK, job.subject, _type_key(type_name))
    look = ap.dress_for_condition(profile.skin, profile.hair, profile.hair_cover,
                                  profile.outfits[0], _condition(type_name), rng)
    if ap.richer(cfg.wardrobe):
        look = ap.dress_v3(look, ws.wardrobe_rng(cfg.seed, job.subject, 1, _type_key(type_name)),
                           ap.WARDROBE_MIX[cfg.wardrobe])
    write_look(look_file, look, cfg, subject=sid, type=type_name)
    if not todo:
        return stats
    walk, placement = ws.sample_walk(rng, profile.identity, cfg.frames, cfg.pose_noise_deg)
    walker = ws.WalkRenderer(profile, look, walk, cfg.frames, rng)
    for view in todo:
        sid, stem = casia_names(job.subject, type_name, view)
        angle = int(view)
        view_rng = ws.rng_for(cfg.seed, ws.STREAM_VIEW, job.subject, _type_key(type_name), angle)
        rendered = walker.render(ws.camera_for_view(angle),
                                 ws.background_for_camera(cfg.seed, angle), view_rng)
        _write_video(out / "videos" / f"{stem}.avi", rendered.rgb)
        missing, broken = ws.frame_faults(view_rng, cfg.frames, cfg.missing_frame_rate,
                                          cfg.broken_frame_rate)
        blobs = {}
        for i, mask in enumerate(rendered.masks):
            if missing[i]:
                continue
            sil = ws.break_silhouette(mask, view_rng) if broken[i] else mask
            sil = rd.add_edge_noise(sil, view_rng, cfg.edge_noise)
            blobs[f"{stem}-{i + 1:03d}.png"] = _png_bytes(sil)
        atomic_write_files(out / "silhouettes" / sid / type_name / view, blobs, overwrite=True)
        keys = SequenceKeys(job.subject, casia_clothes_key(type_name), angle)
        numbers, size = range(1, cfg.frames + 1), (ws.FRAME_WIDTH, ws.FRAME_HEIGHT)
        extra = {"sequence": stem, "placement": placement, "fps": ws.FPS}
        write_exact_keypoints(out, stem, rendered.keypoints, numbers, size, extra,
                              error_context(look, keys, _type_key(type_name)), cfg)
        atomic_write_text(out / "poses" / f"{stem}.json",
                          format_pose_json(measured_keypoints(rendered.keypoints, cfg, view_rng, look, keys,
                                                              _type_key(type_name)), numbers, size, extra))
        stats["sequences"] += 1
        stats["frames"] += cfg.frames
        stats["silhouettes_missing"] += int(missing.sum())
        stats["silhouettes_broken"] += int(broken.sum())
        stats["frames_without_person"] += sum(not m.any() for m in rendered.masks)
        stats[f"placement_{placement}"] += 1
    return stats


def casia_b_jobs(cfg: GenerationConfig, out: Path, overwrite: bool) -> list[Job]:
    return [Job(cfg, str(out), s, _type_key(t), overwrite, {"type": t})
            for s in range(1, cfg.subjects + 1) for t in cfg.types]


# ---------------------------------------------------------------------------------------
# CCVID

@dataclass(frozen=True)
class SessionOutfit:
    outfit: int
    upper: int
    lower: int
    shoes: int
    carrying: int
    coat: object
    bag: object
    hat: object = None            # wardrobe v3: a hat worn with this outfit's coat

    @property
    def clothes_label(self) -> str:
        return f"u{self.upper}_l{self.lower}_s{self.shoes}_c{self.carrying}_a0"


def ccvid_outfit_plan(seed: int, subject: int, sessions: int, wardrobe: str = "v2") -> list[SessionOutfit]:
    """Which clothes a person wears in each session: 2..5 outfits, some sharing trousers or
    shoes, some with a coat; an outfit may come back in a later session. Wardrobe v3 re-cuts
    the same coats (per outfit, with a hat for about a third) and bags (per session)."""
    rng = ws.rng_for(seed, ws.STREAM_EXTRA, subject, 7)
    n_outfits = int(rng.integers(2, min(5, max(sessions, 2)) + 1)) if sessions > 1 else 1
    designs = []
    for k in range(n_outfits):
        lower = designs[-1]["lower"] if designs and rng.random() < 0.3 else k
        shoes = designs[-1]["shoes"] if designs and rng.random() < 0.5 else k
        coat = ap.sample_coat(rng) if rng.random() < 0.35 else None
        designs.append({"lower": lower, "shoes": shoes, "coat": coat})
    plan = []
    for s in range(sessions):
        k = s if s < n_outfits else int(rng.integers(n_outfits))
        bag = ap.sample_bag(rng) if rng.random() < 0.25 else None
        d = designs[k]
        plan.append(SessionOutfit(k, k, d["lower"], d["shoes"], int(bag is not None),
                                  d["coat"], bag))
    if ap.richer(wardrobe):
        mix = ap.WARDROBE_MIX[wardrobe]
        coats, hats = {}, {}
        for k, d in enumerate(designs):
            if d["coat"] is not None:
                wrng = ws.wardrobe_rng(seed, subject, 2, k)
                with_hat, hat = bool(wrng.random() < mix.coat_hat), ap.sample_hat(wrng)
                coats[k], hats[k] = ap.sample_coat_v3(wrng, d["coat"], mix), hat if with_hat else None
        plan = [replace(p, coat=coats.get(p.outfit), hat=hats.get(p.outfit),
                        bag=None if p.bag is None else ap.sample_bag_v3(ws.wardrobe_rng(seed, subject, 3, s + 1),
                                                                        p.bag, mix))
                for s, p in enumerate(plan)]
    return plan


def ccvid_outfit(profile: ws.SubjectProfile, plan: SessionOutfit) -> ap.Outfit:
    base = profile.outfits[plan.upper]
    outfit = replace(base, trousers=profile.outfits[plan.lower].trousers,
                     shoes=profile.outfits[plan.shoes].shoes)
    if ap.richer(profile.wardrobe):      # the whole lower garment comes with the lower outfit
        lower = profile.outfits[plan.lower]
        skirt = lower.skirt
        if skirt is not None and skirt.kind == "dress" and plan.lower != plan.upper:
            skirt = replace(skirt, kind="skirt")
        outfit = replace(outfit, shorts=lower.shorts, wide=lower.wide, skirt=skirt)
    return outfit


def ccvid_outfit_prompts(cfg: GenerationConfig) -> list[dict]:
    """Ground-truth garment lists and inpainting prompts of every outfit (the stage-2 record
    format of DLCR), so the clothing pipeline can be tried without language models."""
    records = {}
    for s in range(1, cfg.subjects + 1):
        profile = ws.subject_profile(cfg.seed, s, wardrobe=cfg.wardrobe)
        for plan in ccvid_outfit_plan(cfg.seed, s, cfg.sessions, cfg.wardrobe):
            outfit = f"{s:03d}_{plan.clothes_label}"
            if outfit not in records:
                items = ap.describe_clothes(ccvid_outfit(profile, plan), plan.coat, plan.bag, plan.hat)
                records[outfit] = {"outfit": outfit, "pid": f"{s:03d}", "items": items,
                                   "prompt": "a person wearing " + ", ".join(items),
                                   "model": "synthetic ground truth"}
    return [records[k] for k in sorted(records)]


def ccvid_clothes_key(plan: SessionOutfit, session: int) -> int:
    """The same number for sessions in the same garments (a bag is drawn per session)."""
    return 1 + plan.upper * 100 + plan.lower * 10 + plan.shoes + (1000 * session if plan.bag is not None else 0)


def ccvid_tracklet(subject: int, session: int, camera: int) -> str:
    return f"session{session}/{subject:03d}_{camera:02d}"


def ccvid_job(job: Job) -> Counter:
    cfg, out = job.config, Path(job.out)
    session = job.key
    stats = Counter()
    todo = []
    for cam, view in enumerate(cfg.views, start=1):
        tracklet = ccvid_tracklet(job.subject, session, cam)
        if not job.overwrite and (out / "poses" / f"{tracklet}.json").exists():
            stats["tracklets_skipped"] += 1
        else:
            todo.append((cam, view))
    look_file = out / LOOKS / f"session{session}" / f"{job.subject:03d}.json"
    if not todo and look_file.exists():
        return stats
    profile = ws.subject_profile(cfg.seed, job.subject, wardrobe=cfg.wardrobe)
    plan = ccvid_outfit_plan(cfg.seed, job.subject, cfg.sessions, cfg.wardrobe)[session - 1]
    rng = ws.rng_for(cfg.seed, ws.STREAM_WALK, job.subject, 1000 + session)
    look = ap.dress(profile.skin, profile.hair, profile.hair_cover, ccvid_outfit(profile, plan),
                    rng, plan.coat, plan.bag)
    if ap.richer(cfg.wardrobe):
        look = ap.wear(look, ws.wardrobe_rng(cfg.seed, job.subject, 4, session), plan.hat)
    write_look(look_file, look, cfg, subject=f"{job.subject:03d}", session=session, clothes=plan.clothes_label)
    if not todo:
        return stats
    walk, _ = ws.sample_walk(rng, profile.identity, cfg.frames, cfg.pose_noise_deg)
    walker = ws.WalkRenderer(profile, look, walk, cfg.frames, rng)
    for cam, view in todo:
        tracklet = ccvid_tracklet(job.subject, session, cam)
        angle = int(view)
        cam_key = 100 + session * 10 + cam
        view_rng = ws.rng_for(cfg.seed, ws.STREAM_VIEW, job.subject, cam_key, angle)
        rendered = walker.render(ws.camera_for_view(angle),
                                 ws.background_for_camera(cfg.seed, cam_key), view_rng)
        missing, broken = ws.frame_faults(view_rng, cfg.frames, cfg.missing_frame_rate,
                                          cfg.broken_frame_rate)
        blobs, masks, clothes, numbers, keypoints, boxes = {}, {}, {}, [], [], []
        for i, (rgb, mask) in enumerate(zip(rendered.rgb, rendered.masks)):
            ys, xs = np.nonzero(mask)
            if ys.size == 0:
                stats["frames_without_person"] += 1
                continue
            margin = 0.08 * (ys.max() - ys.min() + 1)
            x0, y0 = max(int(xs.min() - margin), 0), max(int(ys.min() - margin), 0)
            x1 = min(int(math.ceil(xs.max() + margin)) + 1, rgb.shape[1])
            y1 = min(int(math.ceil(ys.max() + margin)) + 1, rgb.shape[0])
            kp = rendered.keypoints[i].copy()
            kp[:, 0] -= x0
            kp[:, 1] -= y0
            numbers.append(i + 1)
            keypoints.append(kp)
            boxes.append([x0, y0, x1, y1])
            if missing[i]:
                continue
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, 92])
            data = buf.tobytes()
            blobs[f"{i + 1:05d}.jpg"] = data[:len(data) // 3] if broken[i] else data
            masks[f"{i + 1:05d}.png"] = _png_bytes(mask[y0:y1, x0:x1])
            clothes[f"{i + 1:05d}.png"] = _png_bytes(np.isin(rendered.groups[i][y0:y1, x0:x1], CLOTHED_GROUPS))
        if not blobs:
            stats["tracklets_empty"] += 1
            continue
        atomic_write_files(out / tracklet, blobs, overwrite=True)
        atomic_write_files(out / "masks" / tracklet, masks, overwrite=True)
        if job.subject <= ccvid_train_count(cfg):
            atomic_write_files(out / ORACLE_CLOTHES / tracklet, clothes, overwrite=True)
        if cfg.augment_variants and job.subject <= ccvid_train_count(cfg):
            stats.update(ccvid_oracle_variants(job, walker, plan, tracklet, cam_key, angle,
                                               [n for n in numbers if not missing[n - 1]], boxes, numbers))
        keys = SequenceKeys(job.subject, ccvid_clothes_key(plan, session), angle)
        extra = {"sequence": tracklet, "crop_boxes": boxes, "note": "keypoints are in each crop's pixels"}
        write_exact_keypoints(out, tracklet, np.stack(keypoints), numbers, None, extra,
                              error_context(look, keys, cam_key), cfg)
        measured = measured_keypoints(np.stack(keypoints), cfg, view_rng, look, keys, cam_key)
        atomic_write_text(out / "poses" / f"{tracklet}.json", format_pose_json(measured, numbers, None, extra))
        stats["tracklets"] += 1
        stats["frames"] += len(blobs)
        stats["frames_missing"] += int(sum(missing[n - 1] for n in numbers))
        stats["frames_broken"] += int(sum(broken[n - 1] for n in numbers if not missing[n - 1]))
    return stats


def ccvid_train_count(cfg: GenerationConfig) -> int:
    """The first half of the ids train (see ccvid_split_lines)."""
    return (cfg.subjects + 1) // 2


ORACLE_IMAGES, ORACLE_MASKS, ORACLE_RECORDS = "oracle_inpainted", "oracle_masks", "inpaint.jsonl"
ORACLE_CLOTHES = "oracle_clothes_masks"
# The body-part groups a garment covers: torso, upper arms and legs. What a perfect parser's
# ``full`` clothes set would give for a clothed walker, approximately (short sleeves and shorts
# are not told apart from skin in the group map; the head, forearms and bag are left out).
CLOTHED_GROUPS = (rd.TORSO, rd.L_UPPER_ARM, rd.R_UPPER_ARM, rd.L_THIGH, rd.L_SHANK, rd.R_THIGH, rd.R_SHANK)


def ccvid_oracle_variants(job: Job, walker: ws.WalkRenderer, plan: SessionOutfit, tracklet: str,
                          cam_key: int, angle: int, frames: list[int], boxes: list, numbers: list[int]) -> Counter:
    """What perfect clothes inpainting would give: the same walk, camera and background, the
    person re-dressed in the outfit of another training identity (its upper and lower
    garments, shoes and coat; the bag stays), ``augment_variants`` times for an
    ``augment_fraction`` of the training tracklets. Written in DLCR stage 4's layout
    (``oracle_inpainted/<tracklet>_aug<v>/<frame>.png`` and records in its JSONL format), with
    the re-dressed silhouettes in ``oracle_masks/<tracklet>_aug<v>/<frame>.png``."""
    cfg, out = job.config, Path(job.out)
    stats = Counter()
    pick = ws.rng_for(cfg.seed, ws.STREAM_ORACLE, job.subject, cam_key)
    if pick.random() >= cfg.augment_fraction:
        return stats
    others = [t for t in range(1, ccvid_train_count(cfg) + 1) if t != job.subject]
    if not others:
        return stats
    box_of = dict(zip(numbers, boxes))
    records = []
    for v in range(cfg.augment_variants):
        target = others[int(pick.integers(len(others)))]
        target_plans = ccvid_outfit_plan(cfg.seed, target, cfg.sessions, cfg.wardrobe)
        target_plan = target_plans[int(pick.integers(len(target_plans)))]
        target_profile = ws.subject_profile(cfg.seed, target, wardrobe=cfg.wardrobe)
        source_profile = walker.profile
        look = ap.dress(source_profile.skin, source_profile.hair, source_profile.hair_cover,
                        ccvid_outfit(target_profile, target_plan), pick, target_plan.coat, plan.bag)
        if ap.richer(cfg.wardrobe):
            look = ap.wear(look, ws.wardrobe_rng(cfg.seed, job.subject, 6, cam_key, v), target_plan.hat)
        render_seed = int(pick.integers(2 ** 31))
        rendered = walker.dressed(look).render(ws.camera_for_view(angle),
                                               ws.background_for_camera(cfg.seed, cam_key),
                                               np.random.default_rng(render_seed))
        name = augmented_tracklet(tracklet, v)
        images, masks = {}, {}
        for n in frames:
            x0, y0, x1, y1 = box_of[n]
            ok, buf = cv2.imencode(".png", cv2.cvtColor(rendered.rgb[n - 1][y0:y1, x0:x1], cv2.COLOR_RGB2BGR))
            images[f"{n:05d}.png"] = buf.tobytes()
            masks[f"{n:05d}.png"] = _png_bytes(rendered.masks[n - 1][y0:y1, x0:x1])
        if not images:
            continue
        atomic_write_files(out / ORACLE_IMAGES / name, images, overwrite=True)
        atomic_write_files(out / ORACLE_MASKS / name, masks, overwrite=True)
        outfit = f"{target:03d}_{target_plan.clothes_label}"
        items = ap.describe_clothes(ccvid_outfit(target_profile, target_plan), target_plan.coat, plan.bag,
                                    target_plan.hat)
        for n in frames:
            source = f"{tracklet}/{n:05d}.jpg"
            records.append({"key": augmented_key(source, v), "source": source, "variant": v, "tracklet": tracklet,
                            "pid": f"{job.subject:03d}", "target_outfit": outfit, "target_pid": f"{target:03d}",
                            "prompt": "a person wearing " + ", ".join(items), "seed": render_seed,
                            "output": f"{name}/{n:05d}.png", "model": "synthetic oracle"})
        stats["oracle_variants"] += 1
        stats["oracle_frames"] += len(images)
    if records:
        part = out / ORACLE_IMAGES / ".parts" / (tracklet.replace("/", "_") + ".jsonl")
        atomic_write_text(part, "".join(json.dumps(r) + "\n" for r in records))
        stats["oracle_tracklets"] += 1
    return stats


def collect_oracle_records(out: Path) -> int:
    """Fold the per-tracklet record parts into ``oracle_inpainted/inpaint.jsonl``; record count."""
    parts = sorted((out / ORACLE_IMAGES / ".parts").glob("*.jsonl"))
    text = "".join(p.read_text(encoding="utf-8") for p in parts)
    atomic_write_text(out / ORACLE_IMAGES / ORACLE_RECORDS, text)
    return text.count("\n")


def ccvid_jobs(cfg: GenerationConfig, out: Path, overwrite: bool) -> list[Job]:
    return [Job(cfg, str(out), s, session, overwrite)
            for s in range(1, cfg.subjects + 1) for session in range(1, cfg.sessions + 1)]


def ccvid_split_lines(cfg: GenerationConfig, out: Path) -> dict[str, list[str]]:
    """train/query/gallery lines. The first half of the ids train; for each test id the last
    session's tracklets are queries and the earlier sessions' tracklets the gallery."""
    n_train = ccvid_train_count(cfg)
    lines = {"train": [], "query": [], "gallery": []}
    for s in range(1, cfg.subjects + 1):
        plan = ccvid_outfit_plan(cfg.seed, s, cfg.sessions)
        for session in range(1, cfg.sessions + 1):
            for cam in range(1, len(cfg.views) + 1):
                tracklet = ccvid_tracklet(s, session, cam)
                if not (out / tracklet).is_dir():
                    continue
                line = f"{tracklet}\t{s:03d}\t{plan[session - 1].clothes_label}"
                if s <= n_train:
                    lines["train"].append(line)
                elif session == cfg.sessions:
                    lines["query"].append(line)
                else:
                    lines["gallery"].append(line)
    return lines


# ---------------------------------------------------------------------------------------
# GREW

def grew_sequence_name(seed: int, subject: int, index: int) -> str:
    rng = ws.rng_for(seed, ws.STREAM_EXTRA, subject, 100 + index)
    alphabet = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"))
    return "".join(rng.choice(alphabet, 8))


def grew_is_test(cfg: GenerationConfig, subject: int) -> bool:
    return subject > cfg.subjects - max(1, cfg.subjects // 3)


def grew_sequence_dir(cfg: GenerationConfig, out: Path, subject: int, index: int) -> Path:
    seq = grew_sequence_name(cfg.seed, subject, index)
    if not grew_is_test(cfg, subject):
        return out / "train" / f"{subject:05d}" / seq
    if index < cfg.sequences_per_subject // 2:
        return out / "test" / "gallery" / f"{subject:05d}" / seq
    return out / "test" / "probe" / seq


def grew_job(job: Job) -> Counter:
    cfg, out = job.config, Path(job.out)
    seq_dir = grew_sequence_dir(cfg, out, job.subject, job.key)
    gei_file = seq_dir.parent / f"{seq_dir.name}_gei.png"
    if not job.overwrite and gei_file.exists():
        return Counter(sequences_skipped=1)
    profile = ws.subject_profile(cfg.seed, job.subject, wardrobe=cfg.wardrobe)
    rng = ws.rng_for(cfg.seed, ws.STREAM_WALK, job.subject, 2000 + job.key)
    condition = str(rng.choice(["nm", "bg", "cl"], p=[0.7, 0.15, 0.15]))
    outfit = profile.outfits[int(rng.integers(len(profile.outfits)))]
    look = ap.dress_for_condition(profile.skin, profile.hair, profile.hair_cover, outfit,
                                  condition, rng)
    if ap.richer(cfg.wardrobe):
        look = ap.dress_v3(look, ws.wardrobe_rng(cfg.seed, job.subject, 5, job.key), ap.WARDROBE_MIX[cfg.wardrobe])
    n_frames = max(8, int(round(cfg.frames * rng.uniform(0.75, 1.25))))
    walk, _ = ws.sample_walk(rng, profile.identity, n_frames, cfg.pose_noise_deg)
    angle = float(rng.uniform(0, 180))
    walker = ws.WalkRenderer(profile, look, walk, n_frames, rng)
    rendered = walker.render(ws.camera_for_view(angle), None, rng)
    missing, broken = ws.frame_faults(rng, n_frames, cfg.missing_frame_rate,
                                      cfg.broken_frame_rate)
    masks = [rd.add_edge_noise(ws.break_silhouette(m, rng) if broken[i] else m, rng,
                                  cfg.edge_noise) for i, m in enumerate(rendered.masks)]
    aligned, kept = align_silhouettes(masks)
    by_frame = dict(zip(kept.tolist(), aligned))
    blobs = {}
    for i in range(n_frames):
        if missing[i]:
            continue
        sil = by_frame.get(i, np.zeros((64, 64), np.uint8))
        blobs[f"{i + 1:05d}.png"] = _png_bytes(sil)
        blobs[f"{i + 1:05d}_2d_pose.txt"] = format_grew_pose_txt(
            rendered.keypoints[i], (ws.FRAME_HEIGHT, ws.FRAME_WIDTH)).encode()
    if not blobs:
        return Counter(sequences_empty=1)
    atomic_write_files(seq_dir, blobs, overwrite=True)
    gei = aligned.astype(np.float32).mean(0).round().astype(np.uint8) if len(aligned) else \
        np.zeros((64, 64), np.uint8)
    atomic_write_bytes(gei_file, encode_png_gray(gei))
    return Counter(sequences=1, frames=n_frames - int(missing.sum()),
                   frames_missing=int(missing.sum()), frames_broken=int(broken.sum()),
                   **{f"condition_{condition}": 1})


def grew_jobs(cfg: GenerationConfig, out: Path, overwrite: bool) -> list[Job]:
    return [Job(cfg, str(out), s, k, overwrite)
            for s in range(1, cfg.subjects + 1) for k in range(cfg.sequences_per_subject)]


def grew_probe_labels(cfg: GenerationConfig) -> str:
    rows = ["seq,id"]
    for s in range(1, cfg.subjects + 1):
        if grew_is_test(cfg, s):
            for k in range(cfg.sequences_per_subject // 2, cfg.sequences_per_subject):
                rows.append(f"{grew_sequence_name(cfg.seed, s, k)},{s:05d}")
    return "\n".join(rows) + "\n"


JOB_BUILDERS = {"casia_b": (casia_b_jobs, casia_b_job), "ccvid": (ccvid_jobs, ccvid_job),
                "grew": (grew_jobs, grew_job)}
