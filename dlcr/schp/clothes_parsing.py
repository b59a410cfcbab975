"""Stage 3 library: human parsing -> 0/255 clothes masks.

SCHP preprocessing as the official extractor does it: the whole image is mapped into the
network input (473x473 for LIP, 512x512 for ATR/Pascal) by an aspect-preserving affine warp
(zero border), normalised with ImageNet statistics in BGR order; the fusion head's logits are
upsampled to the input size and warped back to the image before the argmax.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dlcr.schp.label_sets import INPUT_SIZES, LABELS, clothes_label_ids

MEAN_BGR = np.array([0.406, 0.456, 0.485], np.float32)
STD_BGR = np.array([0.225, 0.224, 0.229], np.float32)


def input_affine(width: int, height: int, input_hw: tuple[int, int]) -> np.ndarray:
    """2x3 similarity mapping the image (padded to the input aspect, centred) onto the input."""
    in_h, in_w = input_hw
    aspect = in_w / in_h
    cx, cy = (width - 1) * 0.5, (height - 1) * 0.5
    box_w, box_h = float(width - 1), float(height - 1)
    if box_w > aspect * box_h:
        box_h = box_w / aspect
    else:
        box_w = box_h * aspect
    k = in_w / max(box_w, 1e-6)
    return np.array([[k, 0.0, in_w * 0.5 - k * cx], [0.0, k, in_h * 0.5 - k * cy]], np.float32)


def clothes_mask(labels: np.ndarray, ids: list[int], dilation: int = 0) -> np.ndarray:
    """uint8 0/255 mask of the given label ids, grown by ``dilation`` pixels."""
    mask = np.isin(labels, ids).astype(np.uint8) * 255
    if dilation > 0 and mask.any():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation + 1, 2 * dilation + 1))
        mask = cv2.dilate(mask, kernel)
    return mask


class SCHPClothesParser:
    def __init__(self, ckpt: str, dataset: str, device: torch.device, dtype: torch.dtype,
                 input_hw: tuple[int, int] | None = None):
        from dlcr.schp.schp_network import load_schp_checkpoint
        self.labels = LABELS[dataset]
        self.dataset = dataset
        self.model = load_schp_checkpoint(ckpt, len(self.labels)).to(device, dtype)
        self.device, self.dtype = device, dtype
        self.input_hw = tuple(input_hw or INPUT_SIZES[dataset])

    @torch.no_grad()
    def label_maps(self, images_bgr: list[np.ndarray]) -> list[np.ndarray]:
        in_h, in_w = self.input_hw
        warps, batch = [], []
        for img in images_bgr:
            m = input_affine(img.shape[1], img.shape[0], self.input_hw)
            warped = cv2.warpAffine(img, m, (in_w, in_h), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
            batch.append(((warped.astype(np.float32) / 255.0 - MEAN_BGR) / STD_BGR).transpose(2, 0, 1))
            warps.append(m)
        x = torch.from_numpy(np.stack(batch)).to(self.device, self.dtype)
        logits = F.interpolate(self.model(x).float(), size=(in_h, in_w), mode="bilinear", align_corners=True)
        logits = logits.permute(0, 2, 3, 1).cpu().numpy()
        out = []
        for img, m, lg in zip(images_bgr, warps, logits):
            inv = cv2.invertAffineTransform(m)
            back = np.stack([cv2.warpAffine(lg[..., c], inv, (img.shape[1], img.shape[0]),
                                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                             for c in range(lg.shape[-1])], -1)
            out.append(back.argmax(-1))
        return out

    def clothes_ids(self, part: str) -> list[int]:
        return clothes_label_ids(self.dataset, part)


class SegformerClothesParser:
    """transformers' SegFormer semantic segmentation with ATR-style clothes labels."""

    def __init__(self, ckpt: str, device: torch.device, dtype: torch.dtype):
        from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation
        from dlcr.common.stage_runner import load_pretrained
        self.processor = load_pretrained(AutoImageProcessor.from_pretrained, ckpt, "SegFormer processor")
        self.model = load_pretrained(lambda c: AutoModelForSemanticSegmentation.from_pretrained(c, dtype=dtype, use_safetensors=True),
                                     ckpt, "SegFormer model").to(device).eval()
        id2label = self.model.config.id2label
        self.labels = [id2label[i] if i in id2label else id2label.get(str(i), "") for i in range(len(id2label))]
        self.device, self.dtype = device, dtype

    @torch.no_grad()
    def label_maps(self, images_bgr: list[np.ndarray]) -> list[np.ndarray]:
        rgb = [cv2.cvtColor(im, cv2.COLOR_BGR2RGB) for im in images_bgr]
        inputs = self.processor(images=rgb, return_tensors="pt")
        logits = self.model(pixel_values=inputs["pixel_values"].to(self.device, self.dtype)).logits.float()
        return [F.interpolate(lg[None], size=im.shape[:2], mode="bilinear", align_corners=False)[0]
                .argmax(0).cpu().numpy() for lg, im in zip(logits, images_bgr)]

    def clothes_ids(self, part: str) -> list[int]:
        return clothes_label_ids("atr", part, self.labels)
