"""A pinhole camera placed around the walking path at a CASIA-B-style view angle.

View 0° looks at the walker's front (the walker comes towards the camera), 90° is side-on,
180° looks at the back. The walking path runs along world ``+z`` through the origin.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    position: np.ndarray      # (3,) world position
    right: np.ndarray         # (3,) image +x direction in world coordinates
    up: np.ndarray            # (3,) image -y direction in world coordinates
    forward: np.ndarray       # (3,) viewing direction
    focal: float              # pixels
    width: int
    height: int

    @property
    def centre(self) -> tuple[float, float]:
        return (self.width - 1) / 2.0, (self.height - 1) / 2.0

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) to camera coordinates (x right, y up, z depth)."""
        rel = np.asarray(points, dtype=np.float64) - self.position
        return np.stack([rel @ self.right, rel @ self.up, rel @ self.forward], axis=-1)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (..., 3) to pixel coordinates (..., 2) and depth (...)."""
        cam = self.to_camera(points)
        depth = np.maximum(cam[..., 2], 1e-3)
        cx, cy = self.centre
        uv = np.stack([cx + self.focal * cam[..., 0] / depth,
                       cy - self.focal * cam[..., 1] / depth], axis=-1)
        return uv, depth

    def horizontal_right(self) -> np.ndarray:
        """The horizontal world direction that maps to image +x (for view-dependent widths)."""
        r = self.right.copy()
        r[1] = 0.0
        return r / max(np.linalg.norm(r), 1e-9)


def look_at_camera(position: np.ndarray, target: np.ndarray, focal: float, width: int,
                   height: int) -> Camera:
    position = np.asarray(position, np.float64)
    forward = np.asarray(target, np.float64) - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return Camera(position, right, up, forward, float(focal), int(width), int(height))


def view_camera(view_deg: float, distance: float = 5.5, camera_height: float = 1.25,
                target_height: float = 0.85, focal: float = 300.0, width: int = 320,
                height: int = 240) -> Camera:
    """A camera on a circle around the path centre at ``view_deg`` (0 front, 90 side, 180 back)."""
    a = np.radians(view_deg)
    position = np.array([distance * np.sin(a), camera_height, distance * np.cos(a)])
    return look_at_camera(position, np.array([0.0, target_height, 0.0]), focal, width, height)
