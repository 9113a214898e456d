"""Lossless geometry: octree occupancy, coded bit by bit in eight passes per level.

At each level the occupancy bytes of all nodes are coded as eight passes of binary symbols,
one per child index ``k = 4 x + 2 y + z`` (bit ``k`` of every node, then bit ``k + 1``...), so
when bit ``k`` is coded the decoder already knows bits ``0 .. k-1`` of *every* node of the
level. The context of bit ``k`` of a node gathers, per axis:

* if the child lies on the axis' upper side (that bit of ``k`` is 1): the occupancy of its two
  neighbours one voxel down along the axis, at that level, both already decoded: the sibling
  below it in the same node and the child in the face-neighbour node above it;
* otherwise: whether the node's face neighbours below and above exist (the level above),

plus the number of children already found in the node (capped at 3), ``k`` and a depth class
(the last three levels each have their own statistics). A node's last bit is not coded when
its first seven are zero (a node has at least one child). Bits are coded with the adaptive
coder of :mod:`nmc.entropy.adaptive`, one rANS stream per level, statistics carried from
level to level.

Payload: one ``blob`` per level (``depth`` of them).
"""

from __future__ import annotations

import numpy as np

from nmc.bitstream import FieldReader, FieldWriter
from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextModel, ContextState
from nmc.errors import BitstreamError
from nmc.pointcloud.octree import Octree, child_codes, face_neighbours

_DEPTH_CLASSES = 4
_PASS_CONTEXTS = 4 * 4 * 4 * 4
# Occupancy statistics drift along the Morton order: short blocks and fast forgetting. The
# contexts of one depth class, child index and x-axis state share a prior (share = 4 * 4 * 4).
_OCCUPANCY = ContextModel(
    "occupancy", _DEPTH_CLASSES * 8 * _PASS_CONTEXTS, first_block=64, last_block=2048,
    halve_at=2048, share=64, prior=2,
)  # fmt: skip


def _pass_contexts(bits: np.ndarray, neighbours: np.ndarray, k: int) -> np.ndarray:
    """int64 [P] contexts of bit ``k`` of every node, from bits ``< k`` (see module docstring)."""
    nodes = bits.shape[0]
    exists = neighbours >= 0
    ctx = np.zeros(nodes, dtype=np.int64)
    for axis in range(3):
        bit = 1 << (2 - axis)
        if k & bit:
            below = bits[:, k ^ bit]
            above_node = neighbours[:, 2 * axis + 1]
            beyond = np.zeros(nodes, dtype=np.int64)
            has = above_node >= 0
            beyond[has] = bits[above_node[has], k ^ bit]
            state = below + 2 * beyond
        else:
            state = exists[:, 2 * axis].astype(np.int64) + 2 * exists[:, 2 * axis + 1]
        ctx = ctx * 4 + state
    found = bits[:, :k].sum(axis=1) if k else np.zeros(nodes, dtype=np.int64)
    return ctx * 4 + np.minimum(found, 3)


def _offset(level: int, depth: int, k: int) -> int:
    depth_class = min(depth - 1 - level, _DEPTH_CLASSES - 1)
    return (depth_class * 8 + k) * _PASS_CONTEXTS


def encode_geometry(tree: Octree) -> bytes:
    """The geometry payload of an octree (see the module docstring)."""
    out = FieldWriter()
    state = ContextState()
    for level in range(tree.depth):
        coder = AdaptiveEncoder(state)
        occupancy = tree.occupancy[level]
        bits = np.unpackbits(occupancy[:, None], axis=1, bitorder="little").astype(np.int64)
        offset_base = [_offset(level, tree.depth, k) for k in range(8)]
        for k in range(8):
            ctx = _pass_contexts(bits, tree.neighbours[level], k) + offset_base[k]
            coded = bits[:, :k].any(axis=1) if k == 7 else slice(None)
            coder.encode(_OCCUPANCY, bits[coded, k], ctx[coded])
        out.blob(coder.finish())
    return out.getvalue()


def decode_geometry(payload: bytes, depth: int, points: int) -> Octree:
    """Inverse of :func:`encode_geometry` for a cloud of ``points`` voxels, ``depth`` levels.

    Raises :class:`BitstreamError` when the payload is damaged or describes another number of
    points.
    """
    src = FieldReader(payload, "geometry chunk")
    state = ContextState()
    codes = [np.zeros(1, dtype=np.int64)]
    occupancy, neighbours = [], []
    for level in range(depth):
        nodes = codes[level].size
        table = face_neighbours(codes[level], level)
        coder = AdaptiveDecoder(src.blob(), 8 * nodes, "geometry chunk", state)
        bits = np.zeros((nodes, 8), dtype=np.int64)
        for k in range(8):
            ctx = _pass_contexts(bits, table, k) + _offset(level, depth, k)
            if k == 7:
                coded = bits[:, :7].any(axis=1)
                bits[:, 7] = 1
                bits[coded, 7] = coder.decode(_OCCUPANCY, ctx[coded])
            else:
                bits[:, k] = coder.decode(_OCCUPANCY, ctx)
        occ = np.packbits(bits.astype(np.uint8), axis=1, bitorder="little")[:, 0]
        children = child_codes(codes[level], occ)
        if children.size > points:
            raise BitstreamError(
                f"geometry chunk: level {level + 1} has more nodes than the {points} points"
            )
        codes.append(children)
        occupancy.append(occ)
        neighbours.append(table)
    src.expect_end()
    if codes[depth].size != points:
        raise BitstreamError(
            f"geometry chunk: decoded {codes[depth].size} points, the header says {points}"
        )
    return Octree(depth, tuple(codes), tuple(occupancy), tuple(neighbours))
