"""Human-parsing label sets and which labels count as clothes for each --part: one table.

SCHP checkpoints come for LIP (20 labels), ATR (18) and Pascal-Person-Part (7). SegFormer
clothes models (e.g. mattmdjaga/segformer_b2_clothes) use the ATR ids.

``full`` is DLCR's mask: every parsed label except background, hat, hair, face, arms and legs
-- so shoes, socks, gloves, scarves and belts are repainted too (and, as the rule reads, the
parsers' sunglasses and ATR's bag labels). ``upper`` and ``lower`` are narrower options.
Pascal has body parts, not garments: its masks are the torso/upper-arm (upper) and leg
(lower) regions, and ``full`` is both.
"""
from __future__ import annotations

LABELS: dict[str, list[str]] = {
    "lip": ["Background", "Hat", "Hair", "Glove", "Sunglasses", "Upper-clothes", "Dress", "Coat",
            "Socks", "Pants", "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm",
            "Left-leg", "Right-leg", "Left-shoe", "Right-shoe"],
    "atr": ["Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress", "Belt",
            "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm", "Right-arm", "Bag", "Scarf"],
    "pascal": ["Background", "Head", "Torso", "Upper Arms", "Lower Arms", "Upper Legs", "Lower Legs"],
}
INPUT_SIZES = {"lip": (473, 473), "atr": (512, 512), "pascal": (512, 512)}

# Garments repainted for each --part (names, looked up in the label list of the model).
CLOTHES_PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    "lip": {"upper": ("Upper-clothes", "Coat", "Dress", "Jumpsuits", "Scarf"),
            "lower": ("Pants", "Skirt", "Dress", "Jumpsuits")},
    "atr": {"upper": ("Upper-clothes", "Dress", "Scarf"),
            "lower": ("Pants", "Skirt", "Dress", "Belt")},
    "pascal": {"upper": ("Torso", "Upper Arms"),
               "lower": ("Upper Legs", "Lower Legs")},
}
PARTS = ("upper", "lower", "full")
# DLCR keeps these (and repaints every other label) with --part full.
KEPT_BY_DLCR = ("background", "hat", "hair", "face", "head", "left-arm", "right-arm", "left-leg", "right-leg")


def clothes_label_ids(dataset: str, part: str, labels: list[str] | None = None) -> list[int]:
    """Label ids of the garments of ``part`` (``full`` = upper and lower) for a label set."""
    if dataset not in CLOTHES_PARTS:
        raise ValueError(f"unknown label set {dataset!r} (one of {', '.join(CLOTHES_PARTS)})")
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r} (one of {', '.join(PARTS)})")
    table = [n.lower() for n in (labels or LABELS[dataset])]
    if part == "full" and dataset != "pascal":
        return [i for i, n in enumerate(table) if n not in KEPT_BY_DLCR]
    names = set(CLOTHES_PARTS[dataset]["upper"] + CLOTHES_PARTS[dataset]["lower"]) if part == "full" \
        else set(CLOTHES_PARTS[dataset][part])
    return sorted(i for i, n in enumerate(table) if n in {x.lower() for x in names})
