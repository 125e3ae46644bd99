"""Models and maps whose right answers are known, shared by the evaluate tests."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

H, W = 16, 16


class LeftHalf(nn.Module):
    """A regressor that looks only at the left half of the image: a zero-mean (texture) conv on the
    left half, ReLU, then a positive linear read-out. Nothing right of the middle can change it."""

    def __init__(self, h: int = H, w: int = W, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * h * (w // 2), 1)
        with torch.no_grad():
            k = torch.randn(self.conv.weight.shape, generator=g)
            self.conv.weight.copy_(k - k.mean(dim=(1, 2, 3), keepdim=True))
            self.conv.bias.zero_()
            self.fc.weight.copy_(torch.rand(self.fc.weight.shape, generator=g) / 10)
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x[..., : x.shape[-1] // 2])).flatten(1))


class LeftHalfClassifier(nn.Module):
    """Two classes, decided by the left half only: logits (4 (s - s0), 0)."""

    def __init__(self, offset: float):
        super().__init__()
        self.body, self.offset = LeftHalf(), offset

    def forward(self, x):
        s = 4 * (self.body(x) - self.offset)
        return torch.cat([s, torch.zeros_like(s)], dim=1)


def tiny_cnn(seed: int = 0) -> nn.Module:
    """A small CNN over the whole image (for the sanity checks)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * (H // 2) * (W // 2), 16), nn.ReLU(), nn.Linear(16, 1)).eval()


def images(b: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, H, W, generator=torch.Generator().manual_seed(seed))


def half_maps(b: int, side: str) -> torch.Tensor:
    """1 on one half of the image, 0 on the other."""
    m = torch.zeros(b, H, W)
    if side == "left":
        m[..., : W // 2] = 1
    else:
        m[..., W // 2:] = 1
    return m


def uniform_maps(b: int, seed: int) -> torch.Tensor:
    return torch.rand(b, H, W, generator=torch.Generator().manual_seed(seed))


def left_method(model, x, target):
    """A 'method' that always points at the left half."""
    m = torch.zeros(x.shape[0], *x.shape[2:])
    m[..., : x.shape[-1] // 2] = 1
    return m


def right_method(model, x, target):
    return 1 - left_method(model, x, target)


def sobel(model, x, target):
    """An edge detector posing as a method: it never looks at the model."""
    g = x.mean(1, keepdim=True)
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    p = F.pad(g, (1, 1, 1, 1), mode="replicate")
    return (F.conv2d(p, kx) ** 2 + F.conv2d(p, kx.transpose(2, 3)) ** 2).sqrt()[:, 0]


# ROAD's neighbour weights as the paper gives them (direct 1/6, diagonal 1/12), written out here
ROAD_WEIGHTS = {(-1, -1): 1 / 12, (-1, 0): 1 / 6, (-1, 1): 1 / 12, (0, -1): 1 / 6, (0, 1): 1 / 6, (1, -1): 1 / 12,
                (1, 0): 1 / 6, (1, 1): 1 / 12}


def dense_impute(x, removed):
    """ROAD's linear system built and solved densely, pixel by pixel: the reference."""
    out = x.clone()
    _, c, h, w = x.shape
    for i in range(x.shape[0]):
        unknown = [(a, b) for a in range(h) for b in range(w) if removed[i, a, b]]
        pos = {p: j for j, p in enumerate(unknown)}
        A = torch.zeros(len(unknown), len(unknown), dtype=torch.float64)
        rhs = torch.zeros(len(unknown), c, dtype=torch.float64)
        for j, (a, b) in enumerate(unknown):
            for (da, db), wt in ROAD_WEIGHTS.items():
                aa, bb = a + da, b + db
                if 0 <= aa < h and 0 <= bb < w:
                    A[j, j] += wt
                    if (aa, bb) in pos:
                        A[j, pos[(aa, bb)]] -= wt
                    else:
                        rhs[j] += wt * x[i, :, aa, bb]
        v = torch.linalg.solve(A, rhs)
        for j, (a, b) in enumerate(unknown):
            out[i, :, a, b] = v[j]
    return out
