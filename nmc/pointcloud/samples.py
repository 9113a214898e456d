"""A self-contained sample cloud: a wavy, textured surface voxelized like a real scan.

Used by the tests and the demo where ``../shared/data`` is absent. The surface is a height
field ``z = f(x, y)`` (a few sines, like a tabletop scene seen by a depth camera) sampled
more densely than the voxel grid, textured with an image (e.g. a video frame) or a
procedural pattern with edges and gradients, then voxelized with
:func:`nmc.pointcloud.io.voxelize`.
"""

from __future__ import annotations

import numpy as np

from nmc.pointcloud.cloud import PointCloud
from nmc.pointcloud.io import voxelize


def _pattern(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Procedural texture in [0, 1]: smooth gradients, stripes and a disc with sharp edges."""
    disc = ((u - 0.6) ** 2 + (v - 0.4) ** 2 < 0.04).astype(np.float64)
    stripes = (np.floor(u * 12) % 2) * (v > 0.7)
    red = 0.2 + 0.6 * u + 0.2 * disc
    green = 0.3 + 0.4 * v * (1 - disc) + 0.3 * stripes
    blue = 0.5 + 0.3 * np.sin(6 * u) * np.cos(4 * v) - 0.3 * disc
    return np.clip(np.stack([red, green, blue], axis=1), 0.0, 1.0)


def textured_surface(
    samples: int = 160, bits: int = 8, image: np.ndarray | None = None, seed: int = 0
) -> PointCloud:
    """A voxelized textured surface.

    Args:
        samples: the surface is sampled on a ``samples x samples`` grid (plus jitter).
        bits: voxel grid depth.
        image: optional uint8 ``[H, W, 3]`` texture; default: a procedural pattern.
        seed: seed of the sampling jitter and colour noise.

    Returns:
        The cloud (int32 voxels, Morton order, uint8 colours).
    """
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.linspace(0, 1, samples), np.linspace(0, 1, samples))
    u = (u.ravel() + rng.uniform(-0.5, 0.5, u.size) / samples).clip(0, 1)
    v = (v.ravel() + rng.uniform(-0.5, 0.5, v.size) / samples).clip(0, 1)
    height = 0.15 * np.sin(5 * u) * np.cos(3 * v) + 0.1 * np.sin(9 * v + 1)
    xyz = np.stack([u, v, height + 0.3], axis=1)
    if image is None:
        colours = _pattern(u, v)
    else:
        rows = np.minimum((v * image.shape[0]).astype(int), image.shape[0] - 1)
        cols = np.minimum((u * image.shape[1]).astype(int), image.shape[1] - 1)
        colours = image[rows, cols].astype(np.float64) / 255.0
    colours = np.clip(colours + rng.normal(0, 0.01, colours.shape), 0, 1)
    cloud, _, _ = voxelize(xyz, colours, bits)
    return cloud
