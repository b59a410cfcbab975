"""Names of clothing-augmented (repainted) frames and tracklets, in one place for the code that
writes them (DLCR stage 4, dlcr/sd_inpaint/inpaint_clothes.py, and the synthetic oracle of
datasets_preprocess/synthetic) and the code that reads them (datasets_preprocess/ccvid_aug)::

    <source key>#aug<v:02d>        record key of variant v of one frame (session1/001_01/00001.jpg#aug03)
    <tracklet>_aug<v:02d>          folder of variant v of a tracklet (session1/001_01_aug03)
"""
from __future__ import annotations


def augmented_key(source_key: str, variant: int) -> str:
    """The record key of variant ``variant`` of the frame whose key is ``source_key``."""
    return f"{source_key}#aug{int(variant):02d}"


def augmented_tracklet(tracklet: str, variant: int) -> str:
    """The tracklet (folder) name of variant ``variant`` of ``tracklet``."""
    return f"{tracklet}_aug{int(variant):02d}"
