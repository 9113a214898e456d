"""Attribute (colour) coding: YCbCr -> predictive RAHT -> quantization -> adaptive rANS.

The descent runs level by level from the root, identically in encoder and decoder. At each
level the parents are split in two groups by the parity of ``x + y + z`` (a parent's face
neighbours are all in the other group). Group 0's children are predicted from the
reconstructed level above; group 1's children also from the reconstructed children of
group 0 next to them (:mod:`nmc.pointcloud.prediction`). A group's prediction and its true
colours go through the same RAHT merge steps (:mod:`nmc.pointcloud.raht`) and the difference
of the high-pass coefficients is quantized with the luma or chroma step and coded
(:mod:`nmc.pointcloud.coefficients`); the decoder adds the dequantized residuals to the
predicted coefficients and inverts the merge steps. The root's low-pass value (``sqrt(N)``
times the mean colour) is quantized with the same steps.

Payload (``docs/pointcloud.md``)::

    dc:svarint*3   symbols:uvarint   rans:rest

``symbols`` is the number of binary symbols in the rANS stream; the decoder pads the stream
for that many (at most :data:`MAX_SYMBOLS_PER_POINT` per point) and refuses to read more.

Contexts depend only on decoded integers and the geometry, never on floating-point
reconstructions, so every decoder parses the stream alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nmc.bitstream import FieldReader, FieldWriter
from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextState
from nmc.errors import BitstreamError
from nmc.pointcloud.coefficients import (
    Layout,
    Quantizer,
    block_activity,
    decode_group,
    encode_group,
)
from nmc.pointcloud.components import ComponentPrediction, values
from nmc.pointcloud.header import VERSION
from nmc.pointcloud.morton import morton_decode
from nmc.pointcloud.octree import Octree
from nmc.pointcloud.prediction import Predictor
from nmc.pointcloud.priors import initial_state
from nmc.pointcloud.qp import MAX_QP, MIN_QP, qp_step
from nmc.pointcloud.raht import Step, forward_level, inverse_level, plan_level

# Binary symbols per point a stream may declare. Residual energy is at most 4 * 3 * 255**2 * N
# squared steps (step >= 1), so on average |q| <= 510 and a coefficient takes at most
# 1 + 1 + 10 + 9 + 1 symbols (significance, |q| > 1, Exp-Golomb prefix and suffix, sign).
MAX_SYMBOLS_PER_POINT = 3 * 24
# First stream version whose payload carries inter-component slopes, whose coefficients are
# coded rank by rank and whose context statistics start from learnt ones (older ones decode
# with the coding they were written with).
CURRENT_SINCE = 3
# Weight of a neighbour block's activity in a block's activity (context modelling).
_NEIGHBOUR_ACTIVITY = 1.0


@dataclass(frozen=True)
class AttributeParams:
    """How the colours are coded (stored in the bitstream header).

    Attributes:
        qp: G-PCC QP of luma (4..63).
        chroma_qp_offset: added to ``qp`` for Cb and Cr (the sum is clamped to 4..63).
    """

    qp: int
    chroma_qp_offset: int = -1

    def steps(self) -> np.ndarray:
        """float64 ``[3]`` quantization steps of Y, Cb, Cr in 8-bit units."""
        chroma = int(np.clip(self.qp + self.chroma_qp_offset, MIN_QP, MAX_QP))
        return np.array([qp_step(self.qp), qp_step(chroma), qp_step(chroma)])


@dataclass(frozen=True)
class _Group:
    """One group of a level: its parents, their children, merge steps and layout."""

    parents: np.ndarray
    children: np.ndarray
    steps: tuple[Step, Step, Step]
    layout: Layout


class _Level:
    """The geometry-derived structures of one level (its nodes are the children)."""

    def __init__(self, tree: Octree, weights: list[np.ndarray], level: int) -> None:
        codes = tree.codes[level + 1]
        parent = tree.parent_index(level + 1)
        self.tree = tree
        self.level = level
        self.predictor = Predictor(tree.neighbours[level], tree.occupancy[level], parent, codes & 7)
        self.root_w = np.sqrt(weights[level + 1].astype(np.float64))[:, None]
        self.parent_root_w = np.sqrt(weights[level].astype(np.float64))[:, None]
        parity = morton_decode(tree.codes[level]).sum(axis=1) & 1
        self.groups = []
        for g in (0, 1):
            parents = np.flatnonzero(parity == g)
            children = np.flatnonzero(parity[parent] == g)
            steps = plan_level(codes[children], weights[level + 1][children])
            self.groups.append(_Group(parents, children, steps, Layout.of(steps)))

    def predicted_high(
        self, group: _Group, parent_colour: np.ndarray, colour: np.ndarray, known: np.ndarray
    ) -> np.ndarray:
        """Predicted high-pass coefficients (float64 [K, 3]) of a group."""
        later = group is self.groups[1]
        guess = self.predictor.predict(
            group.children, parent_colour, colour if later else None, known if later else None
        )
        _, high = forward_level(group.steps, self.root_w[group.children] * guess)
        return high

    def reconstruct(
        self, group: _Group, parent_colour: np.ndarray, high: np.ndarray, colour: np.ndarray
    ) -> None:
        """Write the group's children colours into ``colour`` from the parents and ``high``."""
        parents = group.parents
        parent_value = self.parent_root_w[parents] * parent_colour[parents]
        value = inverse_level(group.steps, parent_value, high)
        colour[group.children] = value / self.root_w[group.children]


class _Activity:
    """Decoded magnitudes around each block, for the coefficient contexts.

    A block's activity sums the magnitudes coded in its parent's block one level up, those
    of its face neighbours' parent blocks and, for group 1, those of its face
    neighbours' blocks at the same level (group 0, already coded).
    """

    def __init__(self, tree: Octree) -> None:
        self.tree = tree
        self.previous = np.zeros((1, 2))

    def _spread(self, level: int, per_node: np.ndarray) -> np.ndarray:
        padded = np.vstack([per_node, np.zeros((1, per_node.shape[1]))])
        return _NEIGHBOUR_ACTIVITY * padded[self.tree.neighbours[level]].sum(axis=1)

    def start_level(self, level: int) -> None:
        nodes = self.tree.codes[level].size
        own = self.previous[self.tree.parent_index(level)] if level else np.zeros((1, 2))
        self.base = own + self._spread(level, own)
        self.current = np.zeros((nodes, 2))
        self.level = level

    def around(self, group: _Group, later: bool) -> np.ndarray:
        out = self.base[group.parents]
        if later:
            out = out + self._spread(self.level, self.current)[group.parents]
        return out

    def finish_group(self, group: _Group, q: np.ndarray) -> None:
        self.current[group.parents] = block_activity(group.layout, q, group.parents.size)

    def finish_level(self) -> None:
        self.previous = self.current


def _true_sums(tree: Octree, ycbcr: np.ndarray) -> list[np.ndarray]:
    sums = [np.asarray(ycbcr, dtype=np.float64)]
    for level in range(tree.depth - 1, -1, -1):
        starts = np.flatnonzero(np.diff(tree.codes[level + 1] >> 3, prepend=-1))
        sums.append(np.add.reduceat(sums[-1], starts, axis=0))
    return sums[::-1]


def encode_attributes(
    tree: Octree,
    ycbcr: np.ndarray,
    params: AttributeParams,
    quantizer: Quantizer | None = None,
) -> tuple[bytes, np.ndarray]:
    """Code the colours of the octree's leaves (the current stream version's payload).

    The inter-component slopes (:mod:`nmc.pointcloud.components`) are fitted on a first
    coding pass without them; the stream is the second pass.

    Args:
        tree: the cloud's octree.
        ycbcr: float64 ``[N, 3]`` colours of the leaves in Morton order.
        params: QP and chroma QP offset.
        quantizer: the encoder's rounding and pruning choices (default :class:`Quantizer`).

    Returns:
        ``(payload, reconstruction)``: the attribute payload and the decoder's float64
        ``[N, 3]`` YCbCr reconstruction.
    """
    final = _encode_passes(tree, ycbcr, params, quantizer or Quantizer(), initial_state)
    out = FieldWriter()
    for value in final.dc.tolist() + list(final.components.as_tuple()):
        out.svarint(value)
    out.uvarint(final.symbols)
    out.raw(final.stream)
    return out.getvalue(), final.reconstruction


def attribute_statistics(tree: Octree, ycbcr: np.ndarray, params: AttributeParams) -> ContextState:
    """The context statistics a stream's coding ends with when started from none.

    What :mod:`nmc.pointcloud.priors` learns its initial statistics from (same arguments
    as :func:`encode_attributes`).
    """
    return _encode_passes(tree, ycbcr, params, Quantizer(), lambda qp: ContextState()).state


def _encode_passes(
    tree: Octree,
    ycbcr: np.ndarray,
    params: AttributeParams,
    quantizer: Quantizer,
    start: Callable[[int], ContextState],
) -> _Pass:
    """The final coding pass: slopes fitted on a first pass without them, statistics of
    every pass from ``start(qp)``."""
    sums = _true_sums(tree, ycbcr)
    first = _encode_pass(tree, sums, params, quantizer, ComponentPrediction(), start)
    components = ComponentPrediction.fit(first.decoded, first.residual)
    if components == first.components:
        return first
    return _encode_pass(tree, sums, params, quantizer, components, start)


@dataclass(frozen=True)
class _Pass:
    """One coding pass of the encoder: what it wrote and what it measured."""

    components: ComponentPrediction
    dc: np.ndarray
    stream: bytes
    symbols: int
    reconstruction: np.ndarray
    decoded: np.ndarray
    residual: np.ndarray
    state: ContextState


def _encode_pass(
    tree: Octree,
    sums: list[np.ndarray],
    params: AttributeParams,
    quantizer: Quantizer,
    components: ComponentPrediction,
    start: Callable[[int], ContextState],
) -> _Pass:
    """Code every level with the given inter-component slopes.

    Also returns every coded coefficient's decoded residual and true residual (float64
    ``[K, 3]``, colour units), from which :meth:`ComponentPrediction.fit` fits the slopes.
    """
    step = params.steps()
    matrix = components.matrix(step)
    weights = tree.weights()
    q_dc = np.round(sums[0][0] / np.sqrt(weights[0][0]) / step).astype(np.int64)
    coder = AdaptiveEncoder(start(params.qp))
    activity = _Activity(tree)
    parent_colour = (q_dc * step / np.sqrt(weights[0][0]))[None, :]
    decoded, residuals = [], []
    for level in range(tree.depth):
        lev = _Level(tree, weights, level)
        true_value = sums[level + 1] / lev.root_w
        colour = np.zeros((tree.codes[level + 1].size, 3))
        known = np.zeros(colour.shape[0], dtype=bool)
        activity.start_level(level)
        for g, group in enumerate(lev.groups):
            high_pred = lev.predicted_high(group, parent_colour, colour, known)
            _, high = forward_level(group.steps, true_value[group.children])
            around = activity.around(group, g == 1)
            residual = high - high_pred
            q = encode_group(coder, group.layout, around, residual / step, quantizer, matrix)
            activity.finish_group(group, q)
            coded = values(q, matrix) * step
            lev.reconstruct(group, parent_colour, high_pred + coded, colour)
            known[group.children] = True
            decoded.append(coded)
            residuals.append(residual)
        activity.finish_level()
        parent_colour = colour
    return _Pass(
        components,
        q_dc,
        coder.finish(),
        coder.symbols,
        parent_colour,
        np.concatenate(decoded) if decoded else np.zeros((0, 3)),
        np.concatenate(residuals) if residuals else np.zeros((0, 3)),
        coder.state,
    )


def decode_attributes(
    payload: bytes, tree: Octree, params: AttributeParams, version: int = VERSION
) -> np.ndarray:
    """Inverse of :func:`encode_attributes`: float64 ``[N, 3]`` YCbCr of the leaves.

    ``version`` is the stream's codec version: before :data:`CURRENT_SINCE` the payload
    has no inter-component slopes (all 0), its coefficients are coded without ranks and its
    context statistics start from none instead of :mod:`nmc.pointcloud.priors`.
    """
    src = FieldReader(payload, "attribute chunk")
    step = params.steps()
    weights = tree.weights()
    q_dc = np.array([src.svarint() for _ in range(3)], dtype=np.int64)
    current = version >= CURRENT_SINCE
    components = ComponentPrediction()
    if current:
        components = ComponentPrediction(*(src.svarint() for _ in range(3)))
    matrix = components.matrix(step)
    symbols = src.bounded_uvarint(MAX_SYMBOLS_PER_POINT * tree.points, "symbol count")
    state = initial_state(params.qp) if current else None
    coder = AdaptiveDecoder(src.raw(src.remaining), symbols, "attribute chunk", state)
    activity = _Activity(tree)
    parent_colour = (q_dc * step / np.sqrt(weights[0][0]))[None, :]
    for level in range(tree.depth):
        lev = _Level(tree, weights, level)
        colour = np.zeros((tree.codes[level + 1].size, 3))
        known = np.zeros(colour.shape[0], dtype=bool)
        activity.start_level(level)
        for g, group in enumerate(lev.groups):
            q = decode_group(coder, group.layout, activity.around(group, g == 1), current)
            activity.finish_group(group, q)
            high_pred = lev.predicted_high(group, parent_colour, colour, known)
            lev.reconstruct(group, parent_colour, high_pred + values(q, matrix) * step, colour)
            known[group.children] = True
        activity.finish_level()
        parent_colour = colour
    if coder.remaining:
        raise BitstreamError("attribute chunk: fewer symbols decoded than declared (damaged)")
    if not np.all(np.isfinite(parent_colour)):
        raise BitstreamError("attribute chunk: decoded colours are not finite (damaged)")
    return parent_colour
