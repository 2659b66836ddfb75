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


def _per_face(n: int, generator: torch.Generator, low: float, high: float) -> torch.Tensor:
    return torch.empty(n).uniform_(low, high, generator=generator).view(n, 1, 1, 1)


def photometric(x: torch.Tensor, generator: torch.Generator, p: float = 0.8) -> torch.Tensor:
    """Random gamma (0.6–1.6), contrast (0.6–1.4) and brightness (±0.15) per face, on normalised faces.

    Classroom and clinic photos are darker, flatter or harsher than FER2013's web photos."""
    n = x.shape[0]
    grey = (x * PIXEL_STD + PIXEL_MEAN).clamp(0, 1)
    gamma = torch.exp(_per_face(n, generator, math.log(0.6), math.log(1.6)))
    changed = grey**gamma
    mean = changed.mean((2, 3), keepdim=True)
    changed = (changed - mean) * _per_face(n, generator, 0.6, 1.4) + mean + _per_face(n, generator, -0.15, 0.15)
    pick = (torch.rand(n, generator=generator) < p).view(n, 1, 1, 1)
    return torch.where(pick, (changed.clamp(0, 1) - PIXEL_MEAN) / PIXEL_STD, x)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(2.5 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def degrade(x: torch.Tensor, generator: torch.Generator, p: float = 0.3) -> torch.Tensor:
    """With probability p each: Gaussian blur (σ 0.6–1.6 px), downscale to 16–32 px and back, JPEG at
    quality 15–60. Faces found in real photos are often small, soft and compressed; FER2013's are not."""
    n = x.shape[0]
    size = x.shape[-1]
    out = x
    pick = torch.rand(3, n, generator=generator) < p
    if pick[0].any():
        sigma = float(torch.empty(1).uniform_(0.6, 1.6, generator=generator))
        out = torch.where(pick[0].view(n, 1, 1, 1), _gaussian_blur(out, sigma), out)
    if pick[1].any():
        small = int(torch.randint(16, 33, (1,), generator=generator))
        down = F.interpolate(out, size=(small, small), mode="area")
        up = F.interpolate(down, size=(size, size), mode="bilinear", align_corners=False)
        out = torch.where(pick[1].view(n, 1, 1, 1), up, out)
    if pick[2].any():
        from torchvision.io import decode_jpeg, encode_jpeg

        quality = int(torch.randint(15, 61, (1,), generator=generator))
        rows = pick[2].nonzero().flatten()
        grey = ((out[rows] * PIXEL_STD + PIXEL_MEAN).clamp(0, 1) * 255).round().to(torch.uint8)
        decoded = decode_jpeg(encode_jpeg(list(grey), quality=quality))
        out = out.clone()
        out[rows] = (torch.stack(decoded).float() / 255.0 - PIXEL_MEAN) / PIXEL_STD
    return out


def random_erase(x: torch.Tensor, generator: torch.Generator, p: float = 0.25) -> torch.Tensor:
    """With probability p, one rectangle (4–25% of the face, aspect 0.5–2) set to the mean grey (0 after
    normalisation): hands, hair and masks hide parts of real faces."""
    n, _, h, w = x.shape
    area = _per_face(n, generator, 0.04, 0.25).view(n) * h * w
    aspect = torch.exp(_per_face(n, generator, math.log(0.5), math.log(2.0)).view(n))
    eh = (area * aspect).sqrt().clamp(1, h).long()
    ew = (area / aspect).sqrt().clamp(1, w).long()
    top = (torch.rand(n, generator=generator) * (h - eh + 1)).long()
    left = (torch.rand(n, generator=generator) * (w - ew + 1)).long()
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    inside = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + eh).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + ew).view(n, 1, 1))
    )
    inside &= (torch.rand(n, generator=generator) < p).view(n, 1, 1)
    return x.masked_fill(inside.unsqueeze(1), 0.0)
