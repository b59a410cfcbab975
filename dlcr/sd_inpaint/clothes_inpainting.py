"""Stage 4 library: choose who wears what, repaint the clothes, paste the result back.

Which sequences are augmented, and with which outfit, is decided up front from the seed: a
``fraction`` of the training tracklets, ``n`` variants each; variant v of tracklet t wears the
outfit of another identity (never its own) and uses one diffusion seed for every frame, so the
new clothes stay consistent through the sequence.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image

from gaitcore.seeding import stable_int
from dlcr.common.stage_runner import load_pretrained


@dataclass(frozen=True)
class VariantPlan:
    tracklet: str
    variant: int
    target_outfit: str
    target_pid: str
    prompt: str
    seed: int


def plan_variants(tracklets: dict[str, str], prompts: dict[str, dict], fraction: float, n: int,
                  seed: int) -> list[VariantPlan]:
    """``tracklets``: tracklet -> pid; ``prompts``: outfit -> stage-2 record. Returns the plan."""
    usable = sorted(o for o, rec in prompts.items() if rec.get("prompt") and not rec.get("error"))
    names = sorted(tracklets)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(names, size=int(round(fraction * len(names))), replace=False)) if names else []
    plans = []
    for tracklet in chosen:
        pid = tracklets[tracklet]
        others = [o for o in usable if prompts[o]["pid"] != pid]
        if not others:
            continue
        for v in range(n):
            pick = np.random.default_rng(stable_int(seed, tracklet, v))
            outfit = others[int(pick.integers(len(others)))]
            plans.append(VariantPlan(tracklet, v, outfit, prompts[outfit]["pid"], prompts[outfit]["prompt"],
                                     stable_int(seed, tracklet, v, "diffusion") % (2 ** 31)))
    return plans


def paste_back(original: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Only masked pixels (mask > 0) take the generated values; all others stay bit-identical."""
    out = original.copy()
    sel = mask > 0
    out[sel] = generated[sel]
    return out


class ClothesInpainter:
    """diffusers' StableDiffusionInpaintPipeline with 8 GB switches."""

    def __init__(self, ckpt: str, device: torch.device, dtype: torch.dtype, attention_slicing: bool,
                 cpu_offload: bool):
        from diffusers import StableDiffusionInpaintPipeline
        self.pipe = load_pretrained(lambda c: StableDiffusionInpaintPipeline.from_pretrained(
            c, dtype=dtype, safety_checker=None, requires_safety_checker=False, use_safetensors=True), ckpt, "inpainting pipeline")
        if attention_slicing:
            self.pipe.enable_attention_slicing()
        if cpu_offload and device.type == "cuda":
            self.pipe.enable_model_cpu_offload(device=device)
        else:
            self.pipe.to(device)
        self.pipe.set_progress_bar_config(disable=True)
        self.device = device

    def inpaint(self, images: list[np.ndarray], masks: list[np.ndarray], prompts: list[str],
                seeds: list[int], size: tuple[int, int], steps: int, guidance: float,
                negative_prompt: str | None) -> list[np.ndarray]:
        """RGB uint8 images and 0/255 masks of any size -> repainted images of the same size
        (only masked pixels changed)."""
        h, w = size
        pil_images = [Image.fromarray(cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA)) for im in images]
        pil_masks = [Image.fromarray(cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)) for m in masks]
        generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        result = self.pipe(prompt=prompts, image=pil_images, mask_image=pil_masks, height=h, width=w,
                           num_inference_steps=steps, guidance_scale=guidance,
                           negative_prompt=[negative_prompt] * len(prompts) if negative_prompt else None,
                           generator=generators, output_type="np").images
        out = []
        for im, m, gen in zip(images, masks, result):
            gen = (np.clip(gen, 0, 1) * 255).round().astype(np.uint8)
            gen = cv2.resize(gen, (im.shape[1], im.shape[0]), interpolation=cv2.INTER_CUBIC)
            out.append(paste_back(im, gen, m))
        return out
