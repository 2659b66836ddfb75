"""Tensor transforms shared by training, evaluation and inference (all on batches, N×1×H×W)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# Mean and spread of FER2013 Training grey levels (measured on the split, rounded).
PIXEL_MEAN, PIXEL_STD = 0.508, 0.255


def to_tensor(faces: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, 48, 48) uint8 → (N, 1, 48, 48) float, normalised."""
    x = torch.as_tensor(faces)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return (x.float() / 255.0 - PIXEL_MEAN) / PIXEL_STD


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    top = (x.shape[-2] - size) // 2
    left = (x.shape[-1] - size) // 2
    return x[..., top : top + size, left : left + size]


def ten_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) → (10, N, C, size, size): four corners and centre, and their mirror images."""
    h, w = x.shape[-2:]
    crops = [
        x[..., :size, :size],
        x[..., :size, w - size :],
        x[..., h - size :, :size],
        x[..., h - size :, w - size :],
        center_crop(x, size),
    ]
    crops += [c.flip(-1) for c in crops]
    return torch.stack(crops)


def augment(
    x: torch.Tensor,
    size: int,
    generator: torch.Generator,
    max_rotation: float = 10.0,
    scale: tuple[float, float] = (0.9, 1.1),
) -> torch.Tensor:
    """Random rotation/scale, random `size` crop and horizontal flip, per face, on a whole batch."""
    n = x.shape[0]
    if max_rotation > 0 or scale != (1.0, 1.0):
        angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_rotation)
        s = torch.empty(n).uniform_(*scale, generator=generator)
        cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
        theta = torch.stack(
            [torch.stack([cos, -sin, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)], 1
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    h, w = x.shape[-2:]
    tops = torch.randint(0, h - size + 1, (n,), generator=generator)
    lefts = torch.randint(0, w - size + 1, (n,), generator=generator)
    rows = tops[:, None] + torch.arange(size)[None]  # N×size
    cols = lefts[:, None] + torch.arange(size)[None]
    x = x[
        torch.arange(n)[:, None, None, None],
        torch.arange(x.shape[1])[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    flip = torch.rand(n, generator=generator) < 0.5
    x[flip] = x[flip].flip(-1)
    return x
