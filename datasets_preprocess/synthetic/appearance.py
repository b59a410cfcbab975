"""What a walker wears and looks like: skin, hair, garments, coat and bag.

A subject has fixed skin and hair; an *outfit* (shirt, trousers, shoes) is fixed per CASIA-B
subject or per CCVID clothes label; each sequence jitters the colours a little (lighting) and
the condition adds a coat (``cl``) or a bag (``bg``). The coat changes the silhouette (wider
torso and thighs, a hem below the hips) but never the skeleton.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

PLAIN, STRIPES_ACROSS, STRIPES_ALONG, CHECK = 0, 1, 2, 3

SKIN_TONES = np.array([[236, 200, 170], [222, 175, 140], [198, 145, 105], [160, 110, 75],
                       [120, 80, 55], [90, 60, 45]], np.float32)
HAIR_COLOURS = np.array([[25, 20, 18], [60, 40, 25], [110, 75, 40], [170, 130, 80],
                         [200, 170, 120], [120, 120, 120], [40, 30, 30]], np.float32)
GARMENT_COLOUR_NAMES = ("navy", "red", "white", "black", "green", "yellow", "grey", "brown",
                        "light blue", "pink", "purple", "steel blue", "beige", "dark red", "olive",
                        "orange")
GARMENT_COLOURS = np.array([
    [30, 40, 90], [200, 30, 40], [240, 240, 235], [20, 20, 25], [60, 110, 60], [230, 200, 60],
    [120, 120, 125], [150, 90, 50], [70, 140, 200], [200, 120, 160], [100, 60, 130],
    [40, 80, 120], [210, 180, 140], [160, 40, 40], [90, 100, 40], [240, 140, 50]], np.float32)


@dataclass(frozen=True)
class Material:
    colour: tuple[float, float, float]
    pattern: int = PLAIN
    colour2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    period: float = 0.06          # metres per stripe

    def jittered(self, rng: np.random.Generator, amount: float) -> "Material":
        gain = float(np.clip(rng.normal(1.0, amount), 0.7, 1.3))
        shift = rng.normal(0.0, 12.0 * amount / 0.1, 3)

        def adjust(c):
            return tuple(float(v) for v in np.clip(np.asarray(c) * gain + shift, 0, 255))
        return replace(self, colour=adjust(self.colour), colour2=adjust(self.colour2))


@dataclass(frozen=True)
class Outfit:
    shirt: Material
    trousers: Material
    shoes: Material
    long_sleeves: bool
    shorts: bool
    looseness: float              # extra garment radius, metres


@dataclass(frozen=True)
class Coat:
    material: Material
    length: float                 # hem position as a fraction of the thigh (0.5 mid-thigh .. 1 knee)
    bulk: float                   # extra torso/thigh radius, metres


@dataclass(frozen=True)
class Bag:
    kind: str                     # "shoulder" or "backpack"
    material: Material
    side: float                   # +1 left hip / -1 right hip (shoulder bag)
    size: float                   # scale factor


@dataclass(frozen=True)
class Appearance:
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_cover: float             # cos of the hair cap angle: lower = more hair
    outfit: Outfit
    coat: Coat | None = None
    bag: Bag | None = None


def _colour(rng: np.random.Generator, avoid: tuple | None = None) -> tuple[float, float, float]:
    for _ in range(10):
        c = GARMENT_COLOURS[rng.integers(len(GARMENT_COLOURS))] + rng.normal(0, 10, 3)
        if avoid is None or np.abs(np.asarray(avoid) - c).sum() > 90:
            break
    return tuple(float(v) for v in np.clip(c, 0, 255))


def _material(rng: np.random.Generator, pattern_prob: float = 0.35,
              avoid: tuple | None = None) -> Material:
    colour = _colour(rng, avoid)
    if rng.random() < pattern_prob:
        pattern = int(rng.choice([STRIPES_ACROSS, STRIPES_ALONG, CHECK]))
        return Material(colour, pattern, _colour(rng, colour), float(rng.uniform(0.03, 0.08)))
    return Material(colour)


def sample_subject_look(rng: np.random.Generator) -> tuple[tuple, tuple, float]:
    """Skin colour, hair colour and hair cover of a subject."""
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] + rng.normal(0, 6, 3)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] + rng.normal(0, 5, 3)
    return (tuple(float(v) for v in np.clip(skin, 0, 255)),
            tuple(float(v) for v in np.clip(hair, 0, 255)), float(rng.uniform(-0.35, 0.25)))


def sample_outfit(rng: np.random.Generator) -> Outfit:
    shirt = _material(rng)
    trousers = _material(rng, pattern_prob=0.1, avoid=shirt.colour)
    shoes = Material(tuple(float(v) for v in np.clip(rng.choice([30, 60, 200, 120]) + rng.normal(0, 8, 3), 0, 255)))
    return Outfit(shirt, trousers, shoes, long_sleeves=bool(rng.random() < 0.55),
                  shorts=bool(rng.random() < 0.08), looseness=float(rng.uniform(0.0, 0.025)))


def sample_coat(rng: np.random.Generator) -> Coat:
    return Coat(_material(rng, pattern_prob=0.15), length=float(rng.uniform(0.45, 0.95)),
                bulk=float(rng.uniform(0.025, 0.06)))


def sample_bag(rng: np.random.Generator) -> Bag:
    kind = "backpack" if rng.random() < 0.5 else "shoulder"
    return Bag(kind, _material(rng, pattern_prob=0.1), side=float(rng.choice([-1.0, 1.0])),
               size=float(rng.uniform(0.85, 1.2)))


def dress(skin: tuple, hair: tuple, hair_cover: float, outfit: Outfit, rng: np.random.Generator,
          coat: Coat | None = None, bag: Bag | None = None,
          colour_jitter: float = 0.06) -> Appearance:
    """The appearance of one sequence: the outfit under this sequence's lighting, plus an
    optional coat and bag."""
    jittered = replace(outfit, shirt=outfit.shirt.jittered(rng, colour_jitter),
                       trousers=outfit.trousers.jittered(rng, colour_jitter),
                       shoes=outfit.shoes.jittered(rng, colour_jitter))
    if coat is not None:
        coat = replace(coat, material=coat.material.jittered(rng, colour_jitter))
    return Appearance(skin, hair, hair_cover, jittered, coat, bag)


def dress_for_condition(skin: tuple, hair: tuple, hair_cover: float, outfit: Outfit,
                        condition: str, rng: np.random.Generator) -> Appearance:
    """CASIA-B conditions: ``nm`` (the outfit), ``bg`` (+ a bag), ``cl`` (+ a coat)."""
    if condition not in ("nm", "bg", "cl"):
        raise ValueError(f"unknown condition {condition!r} (expected nm, bg or cl)")
    coat = sample_coat(rng) if condition == "cl" else None
    bag = sample_bag(rng) if condition == "bg" else None
    return dress(skin, hair, hair_cover, outfit, rng, coat, bag)


def colour_name(rgb) -> str:
    """The name of the palette colour nearest to ``rgb``."""
    d = np.abs(GARMENT_COLOURS - np.asarray(rgb, np.float32)).sum(1)
    return GARMENT_COLOUR_NAMES[int(np.argmin(d))]


def describe_material(material: Material, garment: str) -> str:
    pattern = {PLAIN: "", STRIPES_ACROSS: "striped ", STRIPES_ALONG: "pinstriped ", CHECK: "checked "}
    second = f" and {colour_name(material.colour2)}" if material.pattern != PLAIN else ""
    return f"{colour_name(material.colour)}{second} {pattern[material.pattern]}{garment}".replace("  ", " ")


def describe_clothes(outfit: Outfit, coat: Coat | None = None, bag: Bag | None = None) -> list[str]:
    """Ground-truth garment list of an outfit, in the words a clothes description would use."""
    items = []
    if coat is not None:
        items.append(describe_material(coat.material, "coat"))
    items.append(describe_material(outfit.shirt, "long-sleeved shirt" if outfit.long_sleeves else "t-shirt"))
    items.append(describe_material(outfit.trousers, "shorts" if outfit.shorts else "trousers"))
    items.append(describe_material(outfit.shoes, "shoes"))
    if bag is not None:
        items.append(describe_material(bag.material, "backpack" if bag.kind == "backpack" else "shoulder bag"))
    return items
