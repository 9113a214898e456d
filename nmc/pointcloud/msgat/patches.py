"""Cut a cloud of any size into overlapping, equally sized patches and blend them back.

A k-d tree (median splits on the widest axis) partitions the cloud into disjoint *cores* of
at most ``core_size`` points. Each patch is one core plus a *halo*: the non-core points
closest to the core's bounding box, up to ``patch_size`` points in all. Core points weigh 1
in the blend and halo points fall linearly from 1 at the box to 0 at the patch rim, so every
point is covered (by its own core) and neighbouring patches fade into each other instead of
meeting at a seam.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from nmc.pointcloud.msgat.config import PatchConfig


@dataclass(frozen=True)
class PatchBatch:
    """A batch of B patches of P points each.

    Attributes:
        index: ``[B, P]`` int64 cloud point in each patch slot (core points first).
        weight: ``[B, P]`` float32 blending weight, 1 on the core, in [0, 1) on the halo.
    """

    index: np.ndarray
    weight: np.ndarray


def kd_cores(xyz: np.ndarray, core_size: int) -> list[np.ndarray]:
    """Partition points into spatially compact cores of at most ``core_size`` points.

    A node of m points that needs k = ceil(m / core_size) cores is split on its widest axis
    into floor(k / 2) and ceil(k / 2) cores' worth of points, so every core ends up with
    about N / ceil(N / core_size) points and the patches overlap as little as the halo asks.

    Args:
        xyz: ``[N, 3]`` positions (any numeric dtype).
        core_size: largest core, ``>= 1``.

    Returns:
        Disjoint int64 index arrays covering ``0..N-1``, in depth-first k-d order, each of
        ``floor`` or ``ceil`` of ``N / ceil(N / core_size)`` points.
    """
    if core_size < 1:
        raise ValueError(f"core_size={core_size} must be >= 1")
    pos = np.asarray(xyz, dtype=np.float64)
    cores: list[np.ndarray] = []
    stack = [np.arange(pos.shape[0], dtype=np.int64)]
    while stack:
        part = stack.pop()
        parts = -(-part.size // core_size)
        if parts <= 1:
            if part.size:
                cores.append(part)
            continue
        sub = pos[part]
        axis = int(np.argmax(np.ptp(sub, axis=0)))
        left = round(part.size * (parts // 2) / parts)
        order = np.argpartition(sub[:, axis], left)
        # Pushed right first so the left part is processed (and listed) first.
        stack.append(part[order[left:]])
        stack.append(part[order[:left]])
    return cores


def iter_patches(
    xyz: np.ndarray, config: PatchConfig, workers: int | None = None
) -> Iterator[PatchBatch]:
    """Yield the overlapping patches of a cloud, ``config.batch_patches`` at a time.

    Clouds of at most ``patch_size`` points come back as one patch holding every point.
    Memory stays bounded by one batch besides a k-d tree of the cloud.

    Args:
        xyz: ``[N, 3]`` positions, ``N >= 1``.
        config: patch and core sizes, batch size.
        workers: threads of the k-d tree queries (None: torch's thread count).

    Yields:
        :class:`PatchBatch` es whose cores together cover every point exactly once.
    """
    pos = np.asarray(xyz, dtype=np.float64)
    num = pos.shape[0]
    if num <= config.patch_size:
        yield PatchBatch(np.arange(num, dtype=np.int64)[None], np.ones((1, num), dtype=np.float32))
        return
    cores = kd_cores(pos, config.core_size)
    owner = np.empty(num, dtype=np.int64)
    for i, core in enumerate(cores):
        owner[core] = i
    tree = cKDTree(pos)
    for start in range(0, len(cores), config.batch_patches):
        chunk = range(start, min(start + config.batch_patches, len(cores)))
        cores_of = [cores[i] for i in chunk]
        yield _assemble(pos, tree, owner, cores_of, chunk, config.patch_size, workers)


def _assemble(
    pos: np.ndarray,
    tree: cKDTree,
    owner: np.ndarray,
    cores: list[np.ndarray],
    core_ids: range,
    size: int,
    workers: int | None,
) -> PatchBatch:
    batch = len(cores)
    counts = np.array([c.size for c in cores])
    padded = np.zeros((batch, int(counts.max())), dtype=np.int64)
    lo = np.empty((batch, 3))
    hi = np.empty((batch, 3))
    centre = np.empty((batch, 3))
    for b, core in enumerate(cores):
        padded[b, : core.size] = core
        sub = pos[core]
        lo[b], hi[b] = sub.min(axis=0), sub.max(axis=0)
        centre[b] = sub.mean(axis=0)
    # 2 * size candidates around the centre always hold size - |core| non-core points.
    num_cand = min(pos.shape[0], 2 * size)
    workers = workers or torch.get_num_threads()
    _, cand = tree.query(centre, k=num_cand, workers=workers)
    cand = cand.reshape(batch, num_cand)
    cpos = pos[cand]
    gap = np.maximum(lo[:, None] - cpos, 0.0) + np.maximum(cpos - hi[:, None], 0.0)
    dist = np.sqrt((gap**2).sum(axis=-1))
    dist[owner[cand] == np.asarray(core_ids)[:, None]] = np.inf
    order = np.argsort(dist, axis=1, kind="stable")
    halo = np.take_along_axis(cand, order, axis=1)
    halo_dist = np.take_along_axis(dist, order, axis=1)

    slot = np.arange(size)[None, :]
    in_core = slot < counts[:, None]
    halo_slot = np.clip(slot - counts[:, None], 0, None)
    rows = np.arange(batch)[:, None]
    index = np.where(
        in_core, padded[rows, np.minimum(slot, padded.shape[1] - 1)], halo[rows, halo_slot]
    )
    used = halo_dist[rows, halo_slot]
    rim = halo_dist[np.arange(batch), np.maximum(size - counts - 1, 0)][:, None]
    fade = np.clip(1.0 - used / np.maximum(rim, 1e-9), 0.0, 1.0)
    weight = np.where(in_core, 1.0, fade).astype(np.float32)
    return PatchBatch(index, weight)
