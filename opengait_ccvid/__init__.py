"""The CCVID clothes-changing protocol on top of the opengait trainer (nothing copied)."""
