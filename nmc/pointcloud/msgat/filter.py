"""The decoder-side post-filter: run MS-GAT patch by patch and blend the colour residual."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from nmc.errors import InputError
from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from nmc.pointcloud.morton import MAX_BITS as MORTON_BITS
from nmc.pointcloud.morton import morton_encode
from nmc.pointcloud.msgat.checkpoint import load_weights
from nmc.pointcloud.msgat.config import PatchConfig
from nmc.pointcloud.msgat.gating import StepGating
from nmc.pointcloud.msgat.graph import build_patch_graph
from nmc.pointcloud.msgat.model import MSGAT
from nmc.pointcloud.msgat.patches import iter_patches

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "msgat_v1.pt"


class PostFilter:
    """MS-GAT post-filter for decoded point-cloud colours.

    Args:
        model: the trained network.
        gating: per-step strength of the residual (identity where validation saw no gain).
        patches: how clouds are cut into patches.
        record: training record of the weights (recipe, scans, validation results).
    """

    def __init__(
        self,
        model: MSGAT,
        gating: StepGating,
        patches: PatchConfig | None = None,
        record: dict | None = None,
    ) -> None:
        self.model = model.eval()
        self.gating = gating
        self.patches = patches or PatchConfig()
        self.record = dict(record or {})

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PostFilter:
        """Load a weights file (see :mod:`nmc.pointcloud.msgat.checkpoint`)."""
        model, gating, patches, record = load_weights(path)
        return cls(model, gating, patches, record)

    def apply(
        self,
        xyz: np.ndarray,
        rgb: np.ndarray,
        step: np.ndarray,
        device: str = "cpu",
        progress: bool = False,
    ) -> np.ndarray:
        """Filter the colours of a decoded cloud.

        Args:
            xyz: ``[N, 3]`` integer voxel coordinates.
            rgb: ``[N, 3]`` uint8 decoded colours.
            step: ``[N]`` float quantization step of every point (colour levels).
            device: torch device for the network (``"cpu"`` or ``"cuda"``).
            progress: show a tqdm bar (stderr).

        Returns:
            ``[N, 3]`` uint8 filtered colours (a copy of ``rgb`` where the gating is off).

        Raises:
            InputError: shapes, dtypes or values are not as above.
        """
        xyz, rgb, step = _check_inputs(xyz, rgb, step)
        strength = self.gating(step)
        if not strength.any():  # also covers the empty cloud
            return rgb.copy()
        ycc = rgb_to_ycbcr(rgb)
        ycc += strength * self.residual(xyz, ycc, step, device=device, progress=progress)
        return ycbcr_to_rgb(ycc)

    def residual(
        self,
        xyz: np.ndarray,
        ycc: np.ndarray,
        step: np.ndarray,
        device: str = "cpu",
        progress: bool = False,
    ) -> np.ndarray:
        """The network's blended colour residual, before gating.

        Args:
            xyz: ``[N, 3]`` coordinates; ycc: ``[N, 3]`` float decoded Y, Cb, Cr;
            step: ``[N]`` float32 steps (inputs already checked).

        Returns:
            ``[N, 3]`` float32 residual in colour levels.
        """
        num = xyz.shape[0]
        dev = _device(device)
        model = self.model.to(dev)
        # Patches and farthest-point samples depend on the order of the points: a canonical
        # order makes the result a function of the cloud alone.
        order = _canonical_order(xyz)
        xyz = xyz[order]
        total = torch.zeros(num, 3, dtype=torch.float32)
        weight_sum = torch.zeros(num, dtype=torch.float32)
        ycc_t = torch.from_numpy(np.ascontiguousarray(ycc[order], dtype=np.float32))
        step_t = torch.from_numpy(np.ascontiguousarray(step[order], dtype=np.float32))
        bar = tqdm(unit="patch", desc="msgat", disable=not progress, leave=False)
        with torch.inference_mode():
            for batch in iter_patches(xyz, self.patches):
                index = torch.from_numpy(batch.index.reshape(-1))
                graph = build_patch_graph(
                    xyz[batch.index], model.config.scales, model.config.knn
                ).to(dev)
                out = model(ycc_t[index].to(dev), step_t[index].to(dev), graph).cpu()
                weight = torch.from_numpy(batch.weight.reshape(-1))
                total.index_add_(0, index, out * weight[:, None])
                weight_sum.index_add_(0, index, weight)
                bar.update(batch.index.shape[0])
        bar.close()
        residual = np.empty((num, 3), dtype=np.float32)
        residual[order] = (total / weight_sum[:, None]).numpy()
        return residual


def load_default() -> PostFilter | None:
    """The filter shipped with nmc (``nmc/models/msgat_v1.pt``), or None if not installed."""
    if not DEFAULT_WEIGHTS.is_file():
        return None
    return PostFilter.from_file(DEFAULT_WEIGHTS)


def filter_decoded(decoded, device: str = "cpu", progress: bool = False) -> np.ndarray:
    """Post-filter hook of the point-cloud decoder (``nmc.pointcloud.postfilter.HOOKS``).

    Args:
        decoded: a :class:`nmc.pointcloud.DecodedCloud` (xyz, rgb, per-point step).
        device: torch device; progress: tqdm bar on stderr.

    Returns:
        ``[N, 3]`` uint8 filtered colours, or the decoded ones when no weights are shipped.
    """
    postfilter = load_default()
    if postfilter is None:
        return np.asarray(decoded.rgb)
    return postfilter.apply(decoded.xyz, decoded.rgb, decoded.step, device, progress)


def _canonical_order(xyz: np.ndarray) -> np.ndarray:
    """Morton order of the points (the decoder's own order), lexicographic beyond 21 bits."""
    shifted = xyz.astype(np.int64) - xyz.min(axis=0)
    if int(shifted.max()) < 2**MORTON_BITS:
        return np.argsort(morton_encode(shifted), kind="stable")
    return np.lexsort(shifted.T[::-1])


def _device(name: str) -> torch.device:
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"unknown device {name!r}; use 'cpu' or 'cuda'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but no CUDA GPU is available; use 'cpu'")
    return dev


def _check_inputs(
    xyz: np.ndarray, rgb: np.ndarray, step: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xyz, rgb, step = np.asarray(xyz), np.asarray(rgb), np.asarray(step)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or not np.issubdtype(xyz.dtype, np.integer):
        raise InputError(f"xyz must be integer [N, 3] coordinates, got {xyz.dtype} {xyz.shape}")
    if rgb.shape != xyz.shape or rgb.dtype != np.uint8:
        raise InputError(f"rgb must be uint8 [N, 3] like xyz, got {rgb.dtype} {rgb.shape}")
    if step.shape != (xyz.shape[0],) or not np.issubdtype(step.dtype, np.number):
        raise InputError(f"step must be a real [N] array with N={xyz.shape[0]}, got {step.shape}")
    step = step.astype(np.float32)
    if not np.all(np.isfinite(step)) or np.any(step < 0):
        raise InputError("step must hold finite, non-negative quantization steps")
    return xyz, rgb, step
