"""Training, inference, checkpoints and logging around plain models."""
