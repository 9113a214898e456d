"""A small real task for weight tests: fit a 32×32 crop of carphone's first frame with a
Fourier-feature ReLU MLP (1024 pixels, 32 features, RGB targets in [0, 1])."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn


def frame_crop(path: Path) -> torch.Tensor:
    """RGB pixels of the crop, float32 [1024, 3] in [0, 1] (skips the test without PyAV)."""
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return torch.from_numpy(frame[60:92, 70:102].astype(np.float32) / 255.0).reshape(-1, 3)


def features() -> torch.Tensor:
    """Fourier features of the pixel grid, float32 [1024, 32]; every row has L2 norm 4."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    coords = torch.stack([xs, ys], -1).reshape(-1, 2)
    freqs = torch.randn(2, 16, generator=torch.Generator().manual_seed(0)) * 3
    return torch.cat([torch.sin(coords @ freqs), torch.cos(coords @ freqs)], 1)


def mlp(seed: int = 1) -> nn.Sequential:
    """The 32-48-48-3 ReLU MLP, default-initialized from ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(32, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU(), nn.Linear(48, 3)
    )


def mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error of ``model(x)`` against ``y`` (differentiable scalar)."""
    return ((model(x) - y) ** 2).mean()


def linear_decay(opt: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate falling linearly from its initial value to 0 over ``steps`` steps."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - i / steps)


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    lr: float,
    decay: bool = False,
) -> None:
    """``steps`` full-batch Adam steps on the MSE (``decay``: with :func:`linear_decay`)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = linear_decay(opt, steps) if decay else None
    for _ in range(steps):
        loss = mse(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if schedule is not None:
            schedule.step()


def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """MSE in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        return float(mse(model, x, y))
