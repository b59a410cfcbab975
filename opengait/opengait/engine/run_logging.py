"""TensorBoard and text logging of a run (main process only)."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from gaitcore.cli import LOG_FORMAT

log = logging.getLogger("opengait")


def setup_text_log(run_dir: Path, to_file: bool, main_process: bool) -> None:
    handlers = [logging.StreamHandler()]
    if to_file and main_process:
        path = Path(run_dir) / "logs" / f"{time.strftime('%Y-%m-%d-%H-%M-%S')}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, encoding="utf-8"))
    logging.basicConfig(level=logging.INFO if main_process else logging.WARNING,
                        format=LOG_FORMAT, datefmt="%H:%M:%S", handlers=handlers, force=True)


class SummaryLogger:
    """``scalar/...`` and ``image/...`` values to ``<run>/summary`` (no-op off the main process)."""

    def __init__(self, run_dir: Path, enabled: bool):
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(Path(run_dir) / "summary"))

    def scalars(self, values: dict, step: int) -> None:
        if self.writer is None:
            return
        for name, value in values.items():
            value = value.detach().float().mean().item() if torch.is_tensor(value) else float(value)
            self.writer.add_scalar(name, value, step)

    def images(self, name: str, frames: torch.Tensor, step: int, max_images: int = 32) -> None:
        """A grid of single-channel frames (N, H, W) or (N, 1, H, W)."""
        if self.writer is None:
            return
        from torchvision.utils import make_grid
        frames = frames.detach().float().cpu()
        if frames.ndim == 3:
            frames = frames[:, None]
        grid = make_grid(frames[:max_images], nrow=8, normalize=True, scale_each=True)
        self.writer.add_image(name, grid, step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
