"""Training data: (original, decoded, step) triples made by running the codec on real scans."""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from nmc.bitstream import atomic_write_bytes
from nmc.errors import InputError
from nmc.media.ycbcr import rgb_to_ycbcr


@dataclass(frozen=True)
class Triple:
    """One scan coded at one QP, points in the decoder's order.

    Attributes:
        scan: scan name (file stem).
        qp: G-PCC QP the attributes were coded at.
        xyz: ``[N, 3]`` int32 voxel coordinates.
        original: ``[N, 3]`` uint8 source colours.
        decoded: ``[N, 3]`` uint8 decoded colours.
        step: ``[N]`` float32 per-point quantization step (colour levels).
        bits: total bits of the coded cloud.
        attribute_bits: bits of the attribute (colour) chunks alone.
    """

    scan: str
    qp: int
    xyz: np.ndarray
    original: np.ndarray
    decoded: np.ndarray
    step: np.ndarray
    bits: int
    attribute_bits: int


def match_order(src_xyz: np.ndarray, dst_xyz: np.ndarray) -> np.ndarray:
    """Permutation ``perm`` with ``src_xyz[perm] == dst_xyz`` (lossless geometry).

    Args:
        src_xyz, dst_xyz: ``[N, 3]`` integer coordinates of the same point set.

    Raises:
        InputError: the two sets differ.
    """
    if src_xyz.shape != dst_xyz.shape:
        raise InputError(f"geometry differs: {src_xyz.shape} vs {dst_xyz.shape} points")
    src_order = np.lexsort(src_xyz.T)
    dst_order = np.lexsort(dst_xyz.T)
    if not np.array_equal(src_xyz[src_order], dst_xyz[dst_order]):
        raise InputError("decoded geometry differs from the source; MS-GAT needs lossless geometry")
    perm = np.empty_like(src_order)
    perm[dst_order] = src_order
    return perm


def noisy_name(scan: str, sigma: float) -> str:
    """Name of a scan whose source colours carry added noise of ``sigma`` (RGB levels)."""
    return f"{scan}+noise{sigma:g}" if sigma > 0 else scan


def add_colour_noise(rgb: np.ndarray, sigma: float, seed: str) -> np.ndarray:
    """Source colours with i.i.d. Gaussian noise added to every RGB value.

    Stands in for what other sensors put into a scan's colours (sensor noise, projected
    or fine texture): content the filter must keep, unlike coding artifacts.

    Args:
        rgb: ``[N, 3]`` uint8 colours.
        sigma: noise standard deviation, 8-bit colour levels.
        seed: the draw is a function of this string (the scan's name), so caches agree.
    Returns:
        ``[N, 3]`` uint8, rounded and clipped to 0..255.
    """
    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    noisy = rgb.astype(np.float64) + rng.normal(0.0, sigma, size=rgb.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def code_scan(path: Path, qps: Sequence[int], bits: int = 10, noise: float = 0.0) -> list[Triple]:
    """Code one scan at every QP with the nmc point-cloud codec and decode it back.

    Args:
        noise: standard deviation of Gaussian noise added to the source colours first
            (:func:`add_colour_noise`; 0 = the scan as it is); the triples' ``scan`` is
            then :func:`noisy_name`.
    """
    from nmc.pointcloud import PointCloud, decode_cloud, encode_cloud, read_cloud

    cloud = read_cloud(path, bits=bits)
    name = noisy_name(path.stem, noise)
    if noise > 0:
        cloud = PointCloud(cloud.xyz, add_colour_noise(np.asarray(cloud.rgb), noise, name))
    triples = []
    for qp in qps:
        data = encode_cloud(cloud, qp)
        dec = decode_cloud(data)
        perm = match_order(np.asarray(cloud.xyz), np.asarray(dec.xyz))
        triples.append(
            Triple(
                scan=name,
                qp=int(qp),
                xyz=np.asarray(dec.xyz, dtype=np.int32),
                original=np.asarray(cloud.rgb, dtype=np.uint8)[perm],
                decoded=np.asarray(dec.rgb, dtype=np.uint8),
                step=np.asarray(dec.step, dtype=np.float32),
                bits=8 * len(data),
                attribute_bits=int(dec.attribute_bits),
            )
        )
    return triples


def load_triples(
    paths: Sequence[Path],
    qps: Sequence[int],
    cache: Path | None,
    bits: int = 10,
    on_scan: Callable[[str], None] | None = None,
    noise: Sequence[float] | None = None,
) -> list[Triple]:
    """Triples of every scan at every QP, coded once and cached as ``.npz`` in ``cache``.

    Args:
        paths: scan files (.pcd / .ply) the codec's reader accepts.
        qps: QPs to code at.
        cache: folder for coded results (None = no cache). Delete it after a codec change.
        bits: voxel grid depth.
        on_scan: called with each scan name once it is ready (progress reporting).
        noise: per path, the colour noise added before coding (:func:`code_scan`);
            None = none.
    """
    triples = []
    for path, sigma in zip(paths, noise or [0.0] * len(paths), strict=True):
        name = noisy_name(path.stem, sigma)
        for qp in qps:
            hit = _read_cached(cache, name, qp, bits)
            if hit is None:
                break
            triples.append(hit)
        else:
            if on_scan:
                on_scan(name)
            continue
        triples = [t for t in triples if t.scan != name]
        for triple in code_scan(path, qps, bits, sigma):
            _write_cached(cache, triple, bits)
            triples.append(triple)
        if on_scan:
            on_scan(name)
    return triples


def _cache_file(cache: Path, scan: str, qp: int, bits: int) -> Path:
    return cache / f"{scan}_b{bits}_qp{qp}.npz"


def _read_cached(cache: Path | None, scan: str, qp: int, bits: int) -> Triple | None:
    if cache is None or not _cache_file(cache, scan, qp, bits).is_file():
        return None
    with np.load(_cache_file(cache, scan, qp, bits)) as npz:
        return Triple(
            scan,
            qp,
            npz["xyz"],
            npz["original"],
            npz["decoded"],
            npz["step"],
            int(npz["bits"]),
            int(npz["attribute_bits"]),
        )


def _write_cached(cache: Path | None, triple: Triple, bits: int) -> None:
    if cache is None:
        return
    os.makedirs(cache, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        xyz=triple.xyz,
        original=triple.original,
        decoded=triple.decoded,
        step=triple.step,
        bits=np.int64(triple.bits),
        attribute_bits=np.int64(triple.attribute_bits),
    )
    atomic_write_bytes(_cache_file(cache, triple.scan, triple.qp, bits), buffer.getvalue())


@dataclass(frozen=True)
class PatchSample:
    """A batch of training patches (B patches of P points, rows concatenated).

    Attributes:
        xyz: ``[B, P, 3]`` coordinates; decoded, original: ``[B * P, 3]`` float32 Y, Cb, Cr;
        step: ``[B * P]`` float32; qp: ``[B]`` int QP of each patch;
        cloud_mse: ``[B, 3]`` float32 per-channel MSE of the decoded colours of the whole
        cloud each patch was drawn from (Y, Cb, Cr; squared colour levels).
    """

    xyz: np.ndarray
    decoded: np.ndarray
    original: np.ndarray
    step: np.ndarray
    qp: np.ndarray
    cloud_mse: np.ndarray


def _ycc32(rgb: np.ndarray) -> np.ndarray:
    return rgb_to_ycbcr(rgb).astype(np.float32)


class PatchSampler:
    """Draws random kNN patches (a random centre and its nearest points) from triples.

    Args:
        triples: coded scans to draw from (every scan at every QP, equally likely).
        size: points per patch.
        seed: random seed (give every data-parallel rank its own).
    """

    def __init__(self, triples: Sequence[Triple], size: int, seed: int) -> None:
        if not triples:
            raise InputError("no training triples; check --data and the scan split")
        self.triples = list(triples)
        # Patches of one batch must be equally sized, so tiny scans cap the size.
        self.size = min(size, min(t.xyz.shape[0] for t in self.triples))
        self.rng = np.random.default_rng(seed)
        self._trees: dict[str, cKDTree] = {}
        self._ycc = [(_ycc32(t.decoded), _ycc32(t.original)) for t in self.triples]
        self._mse = np.stack([((dec - orig) ** 2).mean(0) for dec, orig in self._ycc])

    def _tree(self, triple: Triple) -> cKDTree:
        # Geometry is shared by every QP of a scan, so one tree per scan.
        if triple.scan not in self._trees:
            self._trees[triple.scan] = cKDTree(triple.xyz)
        return self._trees[triple.scan]

    def sample(self, batch: int) -> PatchSample:
        """Draw ``batch`` patches."""
        picks = self.rng.integers(0, len(self.triples), size=batch)
        xyz, dec, orig, step = [], [], [], []
        for i in picks:
            triple = self.triples[i]
            centre = triple.xyz[self.rng.integers(0, triple.xyz.shape[0])]
            _, idx = self._tree(triple).query(centre, k=self.size)
            idx = np.atleast_1d(idx)
            xyz.append(triple.xyz[idx])
            dec.append(self._ycc[i][0][idx])
            orig.append(self._ycc[i][1][idx])
            step.append(triple.step[idx])
        return PatchSample(
            xyz=np.stack(xyz),
            decoded=np.concatenate(dec),
            original=np.concatenate(orig),
            step=np.concatenate(step),
            qp=np.array([self.triples[i].qp for i in picks]),
            cloud_mse=self._mse[picks].astype(np.float32),
        )
