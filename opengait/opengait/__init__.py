"""A trimmed, single-device OpenGait-style trainer (GaitBase, SkeletonGait++, HybridGait)."""
