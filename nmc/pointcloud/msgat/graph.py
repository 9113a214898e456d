"""Neighbourhoods on point geometry: k-NN graphs and farthest-point sampling.

PyG's ``knn_graph`` and ``fps`` need pyg-lib, which is not installable here, so graphs come
from ``scipy.spatial.cKDTree`` and farthest-point sampling is our own batched torch loop.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.spatial import cKDTree


def knn_neighbors(pos: np.ndarray, k: int, workers: int | None = None) -> np.ndarray:
    """The ``k`` nearest other points of every point, within its own patch of a batch.

    Args:
        pos: ``[B, P, 3]`` float point positions (one row per patch).
        k: neighbours per point; ``min(k, P - 1)`` are returned.
        workers: threads of the k-d tree query (None: torch's thread count).

    Returns:
        ``[B * P, min(k, P - 1)]`` int64 node of each neighbour, nodes concatenated patch by
        patch, nearest first.
    """
    batch, size, _ = pos.shape
    k = min(k, size - 1)
    if k <= 0:
        return np.zeros((batch * size, 0), dtype=np.int64)
    # Patches are pushed far apart on x so one tree serves the whole batch without
    # neighbours crossing patches; float64 keeps voxel coordinates exact.
    flat = np.asarray(pos, dtype=np.float64).copy()
    extent = float(np.ptp(flat, axis=1).max()) + 1.0
    flat[:, :, 0] += (np.arange(batch, dtype=np.float64) * (4.0 * extent + 1.0))[:, None]
    flat = flat.reshape(-1, 3)
    workers = workers or torch.get_num_threads()
    _, nbr = cKDTree(flat).query(flat, k=k + 1, workers=workers)
    return np.ascontiguousarray(nbr[:, 1:], dtype=np.int64)


def knn_edges(pos: np.ndarray, k: int) -> np.ndarray:
    """Directed k-nearest-neighbour graph of each patch in a batch.

    Every point receives an edge from each of its ``k`` nearest other points of the same
    patch (fewer when the patch is smaller).

    Args:
        pos: ``[B, P, 3]`` float point positions (one row per patch).
        k: neighbours per point.

    Returns:
        ``[2, B * P * min(k, P - 1)]`` int64 edge index into the ``B * P`` nodes
        concatenated patch by patch; row 0 = neighbour (source), row 1 = point (target),
        grouped by target.
    """
    return neighbors_to_edges(knn_neighbors(pos, k))


def neighbors_to_edges(neighbors: np.ndarray) -> np.ndarray:
    """``[2, N * k]`` edge index (row 0 source, row 1 target) of a ``[N, k]`` table."""
    num, k = neighbors.shape
    centre = np.repeat(np.arange(num, dtype=np.int64), k)
    return np.stack([neighbors.reshape(-1).astype(np.int64), centre])


def scaled_laplacian(edge_index: np.ndarray, num_nodes: int) -> torch.Tensor:
    """Scaled normalised Laplacian of the symmetrised graph, as PyG's ChebConv builds it.

    With A the adjacency of the directed edges plus their reverses (a pair linked both ways
    weighs 2) and D its degree matrix, returns
    ``L_hat = 2 L_sym / lambda_max - I = -D^-1/2 A D^-1/2`` (``lambda_max = 2``), which is
    symmetric with a zero diagonal; isolated nodes get empty rows.

    Args:
        edge_index: ``[2, E]`` int64 edges (self loops are dropped).
        num_nodes: number of nodes N.

    Returns:
        ``[N, N]`` float32 torch sparse CSR tensor.
    """
    src, dst = edge_index
    weight = (src != dst).astype(np.float32)
    directed = sp.csr_matrix((weight, (dst, src)), shape=(num_nodes, num_nodes))
    return _symmetric_normalised(directed)


def neighbor_laplacian(neighbors: np.ndarray) -> torch.Tensor:
    """:func:`scaled_laplacian` of the graph of a ``[N, k]`` neighbour table (the edges of
    :func:`neighbors_to_edges`), built without sorting its edges: ``[N, N]`` float32 CSR."""
    num, k = neighbors.shape
    weight = (neighbors != np.arange(num)[:, None]).astype(np.float32).reshape(-1)
    indptr = np.arange(num + 1, dtype=np.int64) * k
    directed = sp.csr_matrix((weight, neighbors.reshape(-1), indptr), shape=(num, num))
    return _symmetric_normalised(directed)


def _symmetric_normalised(directed: sp.csr_matrix) -> torch.Tensor:
    """``-D^-1/2 (B + B^T) D^-1/2`` of a directed adjacency B (0 weights: no edge) as a
    canonical torch CSR tensor."""
    num = directed.shape[0]
    adj = (directed + directed.T).tocsr()
    adj.eliminate_zeros()
    adj.sort_indices()
    deg = np.asarray(adj.sum(axis=1), dtype=np.float32).ravel()
    inv_sqrt = np.divide(1.0, np.sqrt(deg), out=np.zeros_like(deg), where=deg > 0)
    row_of = np.repeat(np.arange(num), np.diff(adj.indptr))
    values = -(adj.data * inv_sqrt[row_of] * inv_sqrt[adj.indices])
    with warnings.catch_warnings():
        # scipy already produced a canonical CSR; torch only warns that CSR is "beta".
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(adj.indptr.astype(np.int64)),
            torch.from_numpy(adj.indices.astype(np.int64)),
            torch.from_numpy(values.astype(np.float32, copy=False)),
            size=(num, num),
            check_invariants=False,
        )


def farthest_point_sampling(
    pos: np.ndarray | torch.Tensor, num_samples: int, track: tuple[int, ...] = ()
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Farthest-point sampling, batched over patches, starting from point 0 of each patch.

    Each new sample is the point whose squared distance to the samples chosen so far is
    largest (the first such point on ties). The order is a prefix code: the first ``t``
    samples are exactly the farthest-point sample of size ``t``, so one run serves every
    scale.

    Args:
        pos: ``[B, P, 3]`` or ``[P, 3]`` positions; distances are exact for integer
            coordinates in [0, 2^10) (patches are shifted to start at 0).
        num_samples: samples to draw per patch, ``1 <= num_samples <= P``.
        track: sample counts ``t`` at which to record each point's nearest sample.

    Returns:
        ``(index, nearest)``: ``index`` ``[B, num_samples]`` int64 sample positions in the
        patch; ``nearest[j]`` ``[B, P]`` int64, for every point the rank (0..t-1) of its
        nearest sample among the first ``track[j]`` samples (earliest sample on ties).
        For ``[P, 3]`` input the leading batch axis is dropped.
    """
    x = np.asarray(pos.detach().cpu() if isinstance(pos, torch.Tensor) else pos, np.float32)
    single = x.ndim == 2
    if single:
        x = x[None]
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"pos must be [B, P, 3] or [P, 3], got {x.shape}")
    batch, size, _ = x.shape
    if not 1 <= num_samples <= size:
        raise ValueError(f"num_samples={num_samples} must be in [1, {size}]")
    if any(not 1 <= t <= num_samples for t in track):
        raise ValueError(f"track={track} entries must be in [1, {num_samples}]")
    # Per iteration: torch's fused multiply-adds for the distances, numpy for the rest
    # (torch's argmax along rows and masked writes cost 10-40x numpy's on [16, 2048]).
    coords = np.ascontiguousarray(x.transpose(2, 0, 1))  # [3, B, P]: a plane per axis
    coords_t = torch.from_numpy(coords)
    norms = (coords * coords).sum(axis=0)
    norms_t = torch.from_numpy(norms)
    rows = np.arange(batch)
    index = np.zeros((batch, num_samples), dtype=np.int64)
    min_dist = np.full((batch, size), np.inf, dtype=np.float32)
    rank_type = np.int16 if num_samples <= np.iinfo(np.int16).max else np.int32
    owner = np.zeros((batch, size), dtype=rank_type)
    rank = np.empty((batch, size), dtype=rank_type)
    closer = np.empty((batch, size), dtype=bool)
    dist_t = torch.empty(batch, size)
    dist = dist_t.numpy()
    snapshots: dict[int, np.ndarray] = {}
    last = np.zeros(batch, dtype=np.int64)
    for i in range(num_samples):
        # |x - c|^2 = |x|^2 + |c|^2 - 2 x.c, exact in float32 for integer coordinates
        # below 2^10 (every term stays below 2^24), so the order of the sums is irrelevant.
        centre = torch.from_numpy(coords[:, rows, last])  # [3, B]
        torch.add(norms_t, torch.from_numpy(norms[rows, last])[:, None], out=dist_t)
        for axis in range(3):
            dist_t.addcmul_(coords_t[axis], centre[axis, :, None], value=-2.0)
        np.less(dist, min_dist, out=closer)
        # owner = i where closer: i exceeds every earlier rank, so a maximum does it.
        np.multiply(closer, rank_type(i), out=rank)
        np.maximum(owner, rank, out=owner)
        np.minimum(min_dist, dist, out=min_dist)
        if i + 1 in track:
            snapshots[i + 1] = owner.astype(np.int64)
        if i + 1 < num_samples:
            last = min_dist.argmax(axis=1)
            index[:, i + 1] = last
    nearest = [snapshots[t] for t in track]
    if single:
        return index[0], [n[0] for n in nearest]
    return index, nearest


@dataclass(frozen=True)
class GraphLevel:
    """One scale of a :class:`PatchGraph`.

    Attributes:
        neighbors: ``[M, k]`` int64 the k nearest other nodes of each of this level's nodes
            (:func:`knn_neighbors`).
        laplacian: ``[M, M]`` sparse CSR scaled Laplacian of the symmetrised kNN graph.
        subset: ``[M]`` int64 full-level node of each of this level's ``M`` nodes, or
            ``None`` for the full level itself.
        upsample: ``[N]`` int64 for every full-level node, its nearest node of this level
            (``None`` for the full level).
    """

    neighbors: torch.Tensor
    laplacian: torch.Tensor
    subset: torch.Tensor | None
    upsample: torch.Tensor | None


@dataclass(frozen=True)
class PatchGraph:
    """Multi-scale graphs of a batch of equally sized patches (nodes concatenated by patch)."""

    levels: tuple[GraphLevel, ...]
    num_nodes: int

    def to(self, device: torch.device | str) -> PatchGraph:
        """The same graphs on another torch device."""

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        levels = tuple(
            GraphLevel(move(lv.neighbors), move(lv.laplacian), move(lv.subset), move(lv.upsample))
            for lv in self.levels
        )
        return PatchGraph(levels, self.num_nodes)


def build_patch_graph(
    pos: np.ndarray, scales: tuple[int, ...], k: int, workers: int | None = None
) -> PatchGraph:
    """Build the multi-scale graphs the network runs on.

    Scale 1 is the patch itself; scale ``s`` is its first ``ceil(P / s)`` farthest-point
    samples, and every point is mapped back to its nearest sample for upsampling.

    Args:
        pos: ``[B, P, 3]`` positions of B patches of P points (any units; the patch is
            centred here).
        scales: subsampling factors, ``scales[0] == 1``, increasing.
        k: neighbours per node of each level's kNN graph.
        workers: threads of the k-d tree queries (None: torch's thread count).

    Returns:
        A :class:`PatchGraph` over the ``B * P`` nodes.
    """
    pos = np.asarray(pos, dtype=np.float64)
    batch, size, _ = pos.shape
    pos = pos - pos.min(axis=1, keepdims=True)
    counts = [max(1, -(-size // s)) for s in scales[1:]]
    levels = [_level(pos, k, None, None, workers)]
    if counts:
        order, nearest = farthest_point_sampling(pos.astype(np.float32), counts[0], tuple(counts))
        rows = np.arange(batch)[:, None]
        for count, owner in zip(counts, nearest):
            chosen = order[:, :count]
            subset = (rows * size + chosen).reshape(-1)
            upsample = (rows * count + owner).reshape(-1)
            levels.append(_level(pos[rows, chosen], k, subset, upsample, workers))
    return PatchGraph(tuple(levels), batch * size)


def _level(
    pos: np.ndarray,
    k: int,
    subset: np.ndarray | None,
    upsample: np.ndarray | None,
    workers: int | None,
) -> GraphLevel:
    neighbors = knn_neighbors(pos, k, workers)
    return GraphLevel(
        neighbors=torch.from_numpy(neighbors),
        laplacian=neighbor_laplacian(neighbors),
        subset=None if subset is None else torch.from_numpy(subset),
        upsample=None if upsample is None else torch.from_numpy(upsample),
    )
