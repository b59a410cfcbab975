"""What a walker wears and looks like: skin, hair, garments, coat and bag.

A subject has fixed skin and hair; an *outfit* (shirt, trousers, shoes) is fixed per CASIA-B
subject or per CCVID clothes label; each sequence jitters the colours a little (lighting) and
the condition adds a coat (``cl``) or a bag (``bg``). The coat changes the silhouette (wider
torso and thighs, a hem below the hips) but never the skeleton.

Two wardrobes (``--wardrobe`` of make_synthetic_gait.py). ``v2`` is the first one: one kind of
coat (hem at 0.45-0.95 of the thigh, bulk 2.5-6 cm), a backpack or a shoulder bag, trousers or
shorts. ``v3`` starts from the very same draws and re-cuts them from a stream of its own
(walker_sequences.STREAM_WARDROBE), so a walk and its keypoints are the same in both: coats
of three kinds (:data:`COAT_KINDS`: a bulky jacket ending at the hips, a mid-thigh coat, a long
coat below the knee with a flared hem), some with a hood or a high collar; hats
(:data:`HAT_KINDS`), part of an outfit or worn with a coat; wide trousers, skirts and dresses
in the subjects' outfits; and five kinds of bag (:data:`BAG_KINDS`: also a handbag in one
hand, a large tote at the hip and a suitcase pulled behind).
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


WARDROBES = ("v2", "v3", "v4")


@dataclass(frozen=True)
class WardrobeMix:
    """How often the richer wardrobes (v3, v4) pick each garment: upper bounds of the kinds on
    one uniform draw (so both wardrobes take the very same draws and differ only in the cut)."""

    coat_kinds: tuple[tuple[str, float], ...]       # (kind, cumulative share)
    long_coat_length: tuple[float, float]           # hem below the hip: (shortest, span), thigh lengths
    hood: float                                     # share with a hood ...
    collar: float                                   # ... then with a high collar
    bags: tuple[tuple[str, float], ...]             # (kind, cumulative share)
    coat_hat: float                                 # share of coats worn with a hat


WARDROBE_MIX = {
    # v3: many long coats, hoods, totes and suitcases (CL/NM of GaitBase about 0.5: harder than
    # CASIA-B's 0.79).
    "v3": WardrobeMix(coat_kinds=(("jacket", 0.3), ("coat", 0.62), ("long coat", 1.0)),
                      long_coat_length=(1.15, 0.45), hood=0.33, collar=0.2,
                      bags=(("backpack", 0.3), ("shoulder", 0.5), ("handbag", 0.7), ("tote", 0.9),
                            ("suitcase", 1.0)),
                      coat_hat=0.35),
    # v4: the same garments at CASIA-B-like frequencies: CL is mostly jackets and coats (few long
    # coats, to the knee at most), BG mostly backpacks and shoulder bags, no suitcases.
    "v4": WardrobeMix(coat_kinds=(("jacket", 0.45), ("coat", 0.85), ("long coat", 1.0)),
                      long_coat_length=(1.15, 0.2), hood=0.15, collar=0.15,
                      bags=(("backpack", 0.45), ("shoulder", 0.75), ("handbag", 0.9), ("tote", 1.0),
                            ("suitcase", 1.0)),
                      coat_hat=0.15),
}


def richer(wardrobe: str) -> bool:
    """Whether a wardrobe re-cuts v2's looks (v3 and v4 do)."""
    return wardrobe in WARDROBE_MIX
COAT_KINDS = ("jacket", "coat", "long coat")      # v2 coats are all "coat"
HOOD_KINDS = ("hood", "collar")
HAT_KINDS = ("cap", "beanie", "wide-brim hat")
BAG_KINDS = ("backpack", "shoulder", "handbag", "tote", "suitcase")   # v2: the first two
LOWER_KINDS = ("trousers", "wide trousers", "shorts", "skirt", "dress")


@dataclass(frozen=True)
class Hat:
    kind: str                     # one of HAT_KINDS
    material: Material


@dataclass(frozen=True)
class Skirt:
    kind: str                     # "skirt", or "dress" (the top in the same cloth)
    material: Material
    length: float                 # hem below the hip as a fraction of the thigh (1 = the knee)
    flare: float                  # extra hem radius, metres (A-line)
    legs: Material | None         # tights under it; None = bare legs


@dataclass(frozen=True)
class Outfit:
    shirt: Material
    trousers: Material
    shoes: Material
    long_sleeves: bool
    shorts: bool
    looseness: float              # extra garment radius, metres
    wide: float = 0.0             # v3 wide trousers: extra leg radius at the ankle, metres
    skirt: Skirt | None = None    # v3: a skirt or dress instead of trousers
    hat: Hat | None = None        # v3: headwear that belongs to the outfit (always worn with it)

    @property
    def lower(self) -> str:
        """What is worn on the legs, one of LOWER_KINDS."""
        if self.skirt is not None:
            return self.skirt.kind
        if self.shorts:
            return "shorts"
        return "wide trousers" if self.wide > 0 else "trousers"


@dataclass(frozen=True)
class Coat:
    material: Material
    length: float                 # hem below the hip as a fraction of the thigh (0.5 mid-thigh, 1 knee,
                                  # up to 1.6 for a long coat)
    bulk: float                   # extra torso/thigh radius, metres
    kind: str = "coat"            # one of COAT_KINDS
    flare: float = 0.0            # v3: extra hem radius per unit of ``length``, metres (A-line)
    hood: str | None = None       # v3: None, "hood" (down, on the back) or "collar" (high collar)


@dataclass(frozen=True)
class Bag:
    kind: str                     # one of BAG_KINDS ("shoulder" or "backpack" in v2)
    material: Material
    side: float                   # +1 left / -1 right: the hip of a shoulder bag or tote, the hand
                                  # holding a handbag or pulling a suitcase
    size: float                   # scale factor


@dataclass(frozen=True)
class Appearance:
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_cover: float             # cos of the hair cap angle: lower = more hair
    outfit: Outfit
    coat: Coat | None = None
    bag: Bag | None = None
    hat: Hat | None = None        # v3: the hat worn (the outfit's or one worn with a coat)


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


# ---------------------------------------------------------------------------------------
# wardrobe v3: every function below draws a fixed block of numbers first (then materials),
# from a stream of its own, so a v3 look never shifts the draws of the walk.

def sample_hat(rng: np.random.Generator) -> Hat:
    kind = HAT_KINDS[int(rng.integers(len(HAT_KINDS)))]
    return Hat(kind, _material(rng, pattern_prob=0.1))


def outfits_v3(outfits: tuple, rng: np.random.Generator) -> tuple:
    """A subject's v2 outfits with v3 lower garments and hats: about a third of the subjects
    wear a skirt or dress in about half their outfits, a fifth of the other outfits have wide
    trousers (+3-6 cm leg radius), one in eight comes with a hat. Shorts stay shorts."""
    skirt_person = bool(rng.random() < 0.3)
    out = []
    for outfit in outfits:
        u_skirt, u_dress, u_wide, u_hat, u_tights = rng.random(5)
        wide = float(rng.uniform(0.03, 0.06))
        length, flare = float(rng.uniform(0.8, 1.1)), float(rng.uniform(0.03, 0.12))
        cloth = _material(rng, pattern_prob=0.25, avoid=outfit.shirt.colour)
        tights = Material(tuple(float(v) for v in np.clip(rng.choice([25, 40, 70]) + rng.normal(0, 6, 3), 0, 255)))
        hat = sample_hat(rng)
        if outfit.shorts:
            lower = {}
        elif skirt_person and u_skirt < 0.55:
            kind = "dress" if u_dress < 0.4 else "skirt"
            lower = {"skirt": Skirt(kind, cloth, length, flare, tights if u_tights < 0.5 else None)}
        elif u_wide < 0.2:
            lower = {"wide": wide}
        else:
            lower = {}
        out.append(replace(outfit, hat=hat if u_hat < 0.12 else None, **lower))
    return tuple(out)


def sample_coat_v3(rng: np.random.Generator, base: Coat, mix: WardrobeMix = WARDROBE_MIX["v3"]) -> Coat:
    """A richer coat in the colour of the v2 draw ``base``: a bulky jacket ending at the hips
    (bulk 5-9 cm), a mid-thigh coat, or a long coat to below the knee (hem 1.15-1.6 thigh lengths
    below the hip in v3, 1.15-1.35 in v4) whose flared hem widens with its length; hoods and high collars
    as ``mix`` says (v3: a third and a fifth)."""
    u_kind, u_length, u_bulk, u_flare, u_hood = rng.random(5)
    kind = next(k for k, c in mix.coat_kinds if u_kind < c)
    if kind == "jacket":
        length, bulk, flare = 0.05 + 0.17 * u_length, 0.05 + 0.04 * u_bulk, 0.0
    elif kind == "coat":
        length, bulk, flare = 0.45 + 0.35 * u_length, 0.03 + 0.035 * u_bulk, 0.04 * u_flare
    else:
        shortest, span = mix.long_coat_length
        length, bulk, flare = shortest + span * u_length, 0.03 + 0.035 * u_bulk, 0.02 + 0.035 * u_flare
    hood = "hood" if u_hood < mix.hood else "collar" if u_hood < mix.hood + mix.collar else None
    return Coat(base.material, float(length), float(bulk), kind, float(flare), hood)


def sample_bag_v3(rng: np.random.Generator, base: Bag, mix: WardrobeMix = WARDROBE_MIX["v3"]) -> Bag:
    """A richer bag in the colour and on the side of the v2 draw ``base``: backpack (size
    0.7-1.3), shoulder bag, handbag in one hand, large tote at the hip, or a suitcase pulled
    behind, at ``mix.bags``' shares."""
    u_kind, u_size = rng.random(2)
    kind = next(k for k, c in mix.bags if u_kind < c)
    low, high = {"backpack": (0.7, 1.3), "shoulder": (0.85, 1.25), "handbag": (0.8, 1.3),
                 "tote": (0.9, 1.3), "suitcase": (0.85, 1.2)}[kind]
    return replace(base, kind=kind, size=float(low + (high - low) * u_size))


def wear(look: Appearance, rng: np.random.Generator, hat: Hat | None = None,
         colour_jitter: float = 0.06) -> Appearance:
    """The last v3 step of dressing a sequence: the hat worn (the outfit's, else ``hat``) and
    the lighting jitter of the v3 garments' colours (v2's ``dress`` jitters the others)."""
    outfit = look.outfit
    skirt = outfit.skirt
    if skirt is not None:
        legs = None if skirt.legs is None else skirt.legs.jittered(rng, colour_jitter)
        skirt = replace(skirt, material=skirt.material.jittered(rng, colour_jitter), legs=legs)
        outfit = replace(outfit, skirt=skirt)
    worn = outfit.hat if outfit.hat is not None else hat
    if worn is not None:
        worn = replace(worn, material=worn.material.jittered(rng, colour_jitter))
    return replace(look, outfit=outfit, hat=worn)


def dress_v3(look: Appearance, rng: np.random.Generator, mix: WardrobeMix = WARDROBE_MIX["v3"]) -> Appearance:
    """A v2 sequence look (from :func:`dress_for_condition`) re-cut by a richer wardrobe: its
    coat and bag re-drawn in kind and size, a hat with ``mix.coat_hat`` of the coats."""
    coat_hat = bool(rng.random() < mix.coat_hat)
    hat = sample_hat(rng)
    coat = None if look.coat is None else sample_coat_v3(rng, look.coat, mix)
    bag = None if look.bag is None else sample_bag_v3(rng, look.bag, mix)
    return wear(replace(look, coat=coat, bag=bag), rng, hat if coat is not None and coat_hat else None)


def legs_covered(look: Appearance) -> bool:
    """Hips and knees hidden under a coat (of any kind) or a skirt or dress (the pose error
    model's ``coat`` joints)."""
    return look.coat is not None or look.outfit.skirt is not None


def look_record(look: Appearance, wardrobe: str) -> dict:
    """What a sequence wears, for ``looks/`` (lengths as fractions of the thigh, sizes in metres)."""
    coat, bag, skirt = look.coat, look.bag, look.outfit.skirt
    return {
        "wardrobe": wardrobe,
        "coat": None if coat is None else {
            "kind": coat.kind, "length": round(coat.length, 4), "bulk": round(coat.bulk, 4),
            "flare": round(coat.flare * coat.length, 4), "hood": coat.hood,
            "colour": colour_name(coat.material.colour)},
        "bag": None if bag is None else {
            "kind": bag.kind, "size": round(bag.size, 4), "side": "left" if bag.side > 0 else "right",
            "colour": colour_name(bag.material.colour)},
        "hat": None if look.hat is None else look.hat.kind,
        "lower": look.outfit.lower,
        "skirt": None if skirt is None else {
            "length": round(skirt.length, 4), "flare": round(skirt.flare, 4),
            "legs": "bare" if skirt.legs is None else "tights"},
        "wide": round(look.outfit.wide, 4),
        "sleeves": "long" if look.outfit.long_sleeves or coat is not None else "short",
    }


def colour_name(rgb) -> str:
    """The name of the palette colour nearest to ``rgb``."""
    d = np.abs(GARMENT_COLOURS - np.asarray(rgb, np.float32)).sum(1)
    return GARMENT_COLOUR_NAMES[int(np.argmin(d))]


def describe_material(material: Material, garment: str) -> str:
    pattern = {PLAIN: "", STRIPES_ACROSS: "striped ", STRIPES_ALONG: "pinstriped ", CHECK: "checked "}
    second = f" and {colour_name(material.colour2)}" if material.pattern != PLAIN else ""
    return f"{colour_name(material.colour)}{second} {pattern[material.pattern]}{garment}".replace("  ", " ")


def describe_clothes(outfit: Outfit, coat: Coat | None = None, bag: Bag | None = None,
                     hat: Hat | None = None) -> list[str]:
    """Ground-truth garment list of an outfit, in the words a clothes description would use
    (``hat``: one worn with the coat when the outfit has none)."""
    items = []
    hat = outfit.hat if outfit.hat is not None else hat
    if hat is not None:
        items.append(describe_material(hat.material, hat.kind))
    if coat is not None:
        hood = {None: "", "hood": " with a hood", "collar": " with a high collar"}[coat.hood]
        items.append(describe_material(coat.material, coat.kind) + hood)
    skirt = outfit.skirt
    if skirt is not None and skirt.kind == "dress":
        items.append(describe_material(skirt.material, "dress"))
    else:
        items.append(describe_material(outfit.shirt, "long-sleeved shirt" if outfit.long_sleeves else "t-shirt"))
    if skirt is None:
        lower = "shorts" if outfit.shorts else "wide trousers" if outfit.wide > 0 else "trousers"
        items.append(describe_material(outfit.trousers, lower))
    elif skirt.kind == "skirt":
        items.append(describe_material(skirt.material, "skirt"))
    if skirt is not None and skirt.legs is not None:
        items.append(describe_material(skirt.legs, "tights"))
    items.append(describe_material(outfit.shoes, "shoes"))
    if bag is not None:
        items.append(describe_material(bag.material, BAG_NAMES[bag.kind]))
    return items


BAG_NAMES = {"backpack": "backpack", "shoulder": "shoulder bag", "handbag": "handbag", "tote": "tote bag",
             "suitcase": "suitcase"}
