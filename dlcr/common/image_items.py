"""The images DLCR works on: the frames of CCVID tracklets with their identity and outfit.

Identity and outfit come from the split files of the CCVID root (``train.txt``, ``query.txt``,
``gallery.txt``: ``<tracklet> <pid> <clothes label>``); an outfit is ``<pid>_<clothes label>``.
Keys are image paths relative to the root (``session1/001_01/00001.jpg``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from gaitcore.ccvid_layout import SPLITS, parse_split_line
from gaitcore.errors import UserInputError
from gaitcore.image_io import numbered_images, read_image


@dataclass(frozen=True)
class ImageItem:
    key: str          # path relative to the root
    path: str
    pid: str
    outfit: str       # <pid>_<clothes label>
    tracklet: str
    split: str


def parse_splits(text: str) -> tuple[str, ...]:
    """The split names of a ``--splits`` value (``train,query``); unknown names are refused."""
    splits = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = set(splits) - set(SPLITS)
    if unknown or not splits:
        raise UserInputError(f"--splits {text!r}: unknown {', '.join(sorted(unknown)) or 'empty'} "
                             f"(use {', '.join(SPLITS)})")
    return splits


def ccvid_image_items(root: str | Path, splits=("train",)) -> list[ImageItem]:
    """Every frame of the tracklets listed in the chosen split files, sorted by key."""
    root = Path(root)
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise UserInputError(f"--splits: unknown {', '.join(sorted(unknown))} (use {', '.join(SPLITS)})")
    items = []
    for split in splits:
        path = root / f"{split}.txt"
        if not path.exists():
            raise UserInputError(f"{path}: split file not found (is {root} a CCVID root?)")
        for line in path.read_text(encoding="utf-8").splitlines():
            parsed = parse_split_line(line) if line.strip() else None
            if parsed is None or not (root / parsed[0]).is_dir():
                continue
            tracklet, pid, clothes = parsed
            for _, image in numbered_images(root / tracklet, (".jpg", ".jpeg", ".png")).items():
                items.append(ImageItem(str(image.relative_to(root)), str(image), pid,
                                       f"{pid}_{clothes}", tracklet, split))
    if not items:
        raise UserInputError(f"{root}: no frames found for the {', '.join(splits)} split(s)")
    return sorted(items, key=lambda it: it.key)


def read_rgb(path: str | Path) -> Image.Image | None:
    """A PIL RGB image, or None for an unreadable/truncated file."""
    bgr = read_image(path)
    return None if bgr is None else Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def evenly_spaced(items: list, k: int) -> list:
    """``k`` items spread over the list (all of them when it is shorter)."""
    if k <= 0 or len(items) <= k:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, k).round().astype(int)]


def read_batch(items: list, reader, counts) -> tuple[list, list]:
    """``(images, items)`` of the readable items of a batch (``reader(path)`` -> image or None);
    unreadable ones are counted in ``counts["unreadable_images"]`` and left out."""
    images, kept = [], []
    for it in items:
        image = reader(it.path)
        if image is None:
            counts["unreadable_images"] += 1
            continue
        images.append(image)
        kept.append(it)
    return images, kept
