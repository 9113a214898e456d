"""The decoder-side post-filter: run MS-GAT patch by patch and blend the colour residual."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from tqdm import tqdm

from nmc.errors import InputError
from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from nmc.pointcloud.header import VERSION as STREAM_VERSION
from nmc.pointcloud.morton import MAX_BITS as MORTON_BITS
from nmc.pointcloud.morton import morton_encode
from nmc.pointcloud.msgat.checkpoint import load_weights
from nmc.pointcloud.msgat.config import ModelConfig, PatchConfig
from nmc.pointcloud.msgat.gating import StepGating
from nmc.pointcloud.msgat.graph import PatchGraph, build_patch_graph
from nmc.pointcloud.msgat.model import MSGAT
from nmc.pointcloud.msgat.patches import PatchBatch, iter_patches
from nmc.pointcloud.msgat.update import FilterUpdate, read_filter_update

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
# Point-cloud codec version (STREAM_VERSION: that of new streams) -> its weights file in MODELS_DIR.
STREAM_WEIGHTS = {
    1: "msgat_v1.pt",
    2: "msgat_v2.pt",
    3: "msgat_v3.pt",
    4: "msgat_v4.pt",
    5: "msgat_v4.pt",
    6: "msgat_v5.pt",
    7: "msgat_v6.pt",
    STREAM_VERSION: "msgat_v7.pt",
}
# First stream version whose filter update may step the network (kind 4).
NETWORK_SINCE = 5
DEFAULT_WEIGHTS = MODELS_DIR / STREAM_WEIGHTS[STREAM_VERSION]
T = TypeVar("T")


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
        # The state_dict that streams' head updates are coded against.
        self.reference = {k: v.detach().float() for k, v in model.state_dict().items()}

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
        update: FilterUpdate | None = None,
    ) -> np.ndarray:
        """Filter the colours of a decoded cloud.

        Args:
            xyz: ``[N, 3]`` integer voxel coordinates.
            rgb: ``[N, 3]`` uint8 decoded colours.
            step: ``[N]`` float quantization step of every point (colour levels).
            device: torch device for the network (``"cpu"`` or ``"cuda"``).
            progress: show a tqdm bar (stderr).
            update: the stream's per-cloud update (None: the shipped filter and gating).

        Returns:
            ``[N, 3]`` uint8 filtered colours (a copy of ``rgb`` where the gating is off).

        Raises:
            InputError: shapes, dtypes or values are not as above.
        """
        xyz, rgb, step = _check_inputs(xyz, rgb, step)
        update = update or FilterUpdate()
        strength = update.strengths(self.gating(step))
        if not strength.any():  # also covers the empty cloud
            return rgb.copy()
        ycc = rgb_to_ycbcr(rgb)
        network = self.stepped(update.weights) if update.weights else self
        features = network.features(xyz, ycc, step, device=device, progress=progress)
        ycc += strength * network.head_residual(features, step, update)
        return ycbcr_to_rgb(ycc)

    def stepped(self, weights: dict[str, torch.Tensor]) -> PostFilter:
        """This filter with some of its network's tensors replaced (a stream's network
        step, :mod:`nmc.pointcloud.msgat.stepping`); the gating, patches and the reference
        that head updates are coded against stay the shipped ones."""
        model = copy.deepcopy(self.model)
        unknown = set(weights) - set(self.reference)
        if unknown:
            raise ValueError(f"tensors {sorted(unknown)} are not in the network")
        model.load_state_dict({**self.reference, **weights})
        out = PostFilter(model, self.gating, self.patches, self.record)
        out.reference = self.reference
        return out

    def residual(
        self,
        xyz: np.ndarray,
        ycc: np.ndarray,
        step: np.ndarray,
        device: str = "cpu",
        progress: bool = False,
    ) -> np.ndarray:
        """The shipped network's blended colour residual ``[N, 3]`` float32, before gating."""
        return self.head_residual(self.features(xyz, ycc, step, device, progress), step)

    def head_residual(
        self, features: np.ndarray, step: np.ndarray, update: FilterUpdate | None = None
    ) -> np.ndarray:
        """Residual ``[N, 3]`` float32 (colour levels) of blended features ``[N, C]``.

        Args:
            features: output of :meth:`features`; step: ``[N]`` steps (colour levels).
            update: a per-cloud head replacing the shipped one (None or no head: shipped).
        """
        weight, bias = self.model.head.weight.detach(), self.model.head.bias.detach()
        if update is not None and update.head is not None:
            weight, bias = update.head
        with torch.inference_mode():
            h = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
            amp = self.model.amplitude(torch.from_numpy(np.asarray(step, dtype=np.float32)))
            out = (torch.nn.functional.linear(h, weight, bias) * amp).numpy()
        return out

    def features(
        self,
        xyz: np.ndarray,
        ycc: np.ndarray,
        step: np.ndarray,
        device: str = "cpu",
        progress: bool = False,
    ) -> np.ndarray:
        """The network's features of every point, blended over overlapping patches.

        The head is linear, so any head applied to the blended features gives the blend of
        that head's patch residuals.

        Args:
            xyz: ``[N, 3]`` coordinates; ycc: ``[N, 3]`` float decoded Y, Cb, Cr;
            step: ``[N]`` float32 steps (inputs already checked).

        Returns:
            ``[N, C]`` float32 features (C = the model's channels).
        """
        num = xyz.shape[0]
        dev = _device(device)
        model = self.model.to(dev)
        # Patches and farthest-point samples depend on the order of the points: a canonical
        # order makes the result a function of the cloud alone.
        order = canonical_order(xyz)
        xyz = xyz[order]
        total = torch.zeros(num, model.config.channels, dtype=torch.float32)
        weight_sum = torch.zeros(num, dtype=torch.float32)
        ycc_t = torch.from_numpy(np.ascontiguousarray(ycc[order], dtype=np.float32))
        step_t = torch.from_numpy(np.ascontiguousarray(step[order], dtype=np.float32))
        bar = tqdm(unit="patch", desc="msgat", disable=not progress, leave=False)
        # With more than one thread, the next batch's patches and graphs (numpy, scipy:
        # one core) are built in a second thread while the network runs on this one.
        ahead = torch.get_num_threads() > 1
        graphs = _patch_graphs(xyz, self.patches, model.config, workers=1 if ahead else None)
        with torch.inference_mode(), ThreadPoolExecutor(max_workers=1) as pool:
            for batch, graph in _run_ahead(graphs, pool if ahead else None):
                index = torch.from_numpy(batch.index.reshape(-1))
                graph = graph.to(dev)
                out = model.features(ycc_t[index].to(dev), step_t[index].to(dev), graph).cpu()
                weight = torch.from_numpy(batch.weight.reshape(-1))
                total.index_add_(0, index, out * weight[:, None])
                weight_sum.index_add_(0, index, weight)
                bar.update(batch.index.shape[0])
        bar.close()
        total /= weight_sum[:, None]
        features = np.empty((num, model.config.channels), dtype=np.float32)
        features[order] = total.numpy()
        return features


def load_default() -> PostFilter | None:
    """The filter of new streams (``STREAM_WEIGHTS[STREAM_VERSION]``), or None if not
    installed."""
    return load_for_stream(STREAM_VERSION)


def load_for_stream(version: int) -> PostFilter | None:
    """The filter that streams of point-cloud codec ``version`` are decoded with, or None.

    A stream's per-cloud update (and its encoder's never-worse check) was made against one
    set of weights, so each codec version names its own (:data:`STREAM_WEIGHTS`); a version
    whose weights this installation lacks decodes unfiltered.
    """
    name = STREAM_WEIGHTS.get(version)
    if name is None or not (MODELS_DIR / name).is_file():
        return None
    return PostFilter.from_file(MODELS_DIR / name)


def filter_decoded(
    decoded,
    device: str = "cpu",
    progress: bool = False,
    update: bytes = b"",
    version: int = STREAM_VERSION,
) -> np.ndarray | None:
    """Post-filter hook of the point-cloud decoder (``nmc.pointcloud.postfilter.HOOKS``).

    Args:
        decoded: a :class:`nmc.pointcloud.DecodedCloud` (xyz, rgb, per-point step).
        device: torch device; progress: tqdm bar on stderr.
        update: the stream's filter update payload (:mod:`nmc.pointcloud.msgat.update`).
        version: the stream's codec version.

    Returns:
        ``[N, 3]`` uint8 filtered colours, or None when no weights exist for ``version``.
    """
    postfilter = load_for_stream(version)
    if postfilter is None:
        return None
    parsed = read_filter_update(update, postfilter.reference, network=version >= NETWORK_SINCE)
    return postfilter.apply(decoded.xyz, decoded.rgb, decoded.step, device, progress, parsed)


def _patch_graphs(
    xyz: np.ndarray, patches: PatchConfig, config: ModelConfig, workers: int | None
) -> Iterator[tuple[PatchBatch, PatchGraph]]:
    """Every batch of patches of the cloud ``xyz`` [N, 3] with its multi-scale graphs."""
    for batch in iter_patches(xyz, patches, workers=workers):
        yield batch, build_patch_graph(xyz[batch.index], config.scales, config.knn, workers)


def _run_ahead(items: Iterator[T], pool: Executor | None) -> Iterator[T]:
    """The items of ``items`` in order, each produced in ``pool`` (one worker) while the
    caller uses the previous one; all in the caller's thread when ``pool`` is None."""
    if pool is None:
        yield from items
        return
    end = object()
    pending = pool.submit(next, items, end)
    while (item := pending.result()) is not end:
        pending = pool.submit(next, items, end)
        yield item


def canonical_order(xyz: np.ndarray) -> np.ndarray:
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
