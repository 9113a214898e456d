"""The deterministic renderer the encoder and decoder share, and a thread-count guard."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import numpy as np
import torch

from nmc.video.frame_model import FrameModel, render_state
from nmc.video.planes import from_grid


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads, then restore the caller's setting."""
    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def render(
    model: FrameModel, state: Mapping[str, torch.Tensor]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoded 8-bit planes ``(y [H, W], u [Hc, Wc], v [Hc, Wc])`` of ``model`` with ``state``.

    On CPU the result does not depend on the caller's torch thread count (the encoder reports
    PSNR on exactly these frames): MKL / oneDNN split reductions differently with the thread
    count (conv outputs differ by ~1e-8 between 2 and 4 threads measured here), which could
    flip a rounded pixel, so rendering runs on one thread.
    """
    device = next(iter(state.values())).device
    guard = torch_threads(1) if device.type == "cpu" else contextlib.nullcontext()
    with guard, torch.no_grad():
        return from_grid(render_state(model, state), model.height, model.width)
