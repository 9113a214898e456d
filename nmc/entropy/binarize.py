"""Exp-Golomb binarization of non-negative integers for the adaptive binary coder.

Order-0 Exp-Golomb: ``m = value + 1`` has ``n + 1`` bits; ``n`` travels as unary flags
("``n > j``", one per position ``j``), then the ``n`` bits of ``m`` below its leading one, most
significant first. Every flag and bit is coded with :mod:`nmc.entropy.adaptive` under a context
the caller chooses per position, so a code whose short lengths dominate learns them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextModel
from nmc.errors import BitstreamError

PrefixContexts = Callable[[np.ndarray, int], np.ndarray]
"""``(indexes of the values still coding their prefix, position j) -> int64 contexts``."""
SuffixContexts = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
"""``(indexes of the values with that bit, their prefix lengths, bit) -> int64 contexts``."""
Binarization = tuple[tuple[ContextModel, PrefixContexts], tuple[ContextModel, SuffixContexts]]


def classed_contexts(
    prefix: ContextModel,
    suffix: ContextModel,
    classes: np.ndarray,
    positions: int,
    lengths: int,
    bits: int,
) -> Binarization:
    """Prefix and suffix contexts of values that each belong to a class (int64 ``classes``,
    one per value): a prefix flag's context is its class x position (capped at
    ``positions - 1``), a suffix bit's its class x prefix length (capped at ``lengths``) x bit
    position (capped at ``bits - 1``). The models need ``classes.max() + 1`` times
    ``positions`` and ``lengths * bits`` contexts."""

    def prefix_contexts(alive: np.ndarray, j: int) -> np.ndarray:
        return classes[alive] * positions + min(j, positions - 1)

    def suffix_contexts(chosen: np.ndarray, length: np.ndarray, bit: int) -> np.ndarray:
        cell = (np.minimum(length, lengths) - 1) * bits + min(bit, bits - 1)
        return classes[chosen] * lengths * bits + cell

    return (prefix, prefix_contexts), (suffix, suffix_contexts)


def exp_golomb_lengths(value: np.ndarray) -> np.ndarray:
    """Prefix length ``n = floor(log2(value + 1))`` of each int64 ``value >= 0``."""
    m = np.asarray(value, dtype=np.int64) + 1
    length = np.floor(np.log2(m)).astype(np.int64)
    length[(1 << length) > m] -= 1  # float log2 may round across a power of two
    length[(2 << length) <= m] += 1
    return length


def encode_exp_golomb(
    coder: AdaptiveEncoder,
    value: np.ndarray,
    prefix: tuple[ContextModel, PrefixContexts],
    suffix: tuple[ContextModel, SuffixContexts],
) -> None:
    """Code int64 ``value >= 0`` ``[N]``: prefix flags position by position, then suffix bits."""
    m = np.asarray(value, dtype=np.int64) + 1
    length = exp_golomb_lengths(value)
    alive = np.arange(m.size)
    position = 0
    while alive.size:
        more = length[alive] > position
        coder.encode(prefix[0], more, prefix[1](alive, position))
        alive = alive[more]
        position += 1
    for bit in range(int(length.max(initial=0)) - 1, -1, -1):
        chosen = np.flatnonzero(length > bit)
        coder.encode(suffix[0], (m[chosen] >> bit) & 1, suffix[1](chosen, length[chosen], bit))


def decode_exp_golomb(
    coder: AdaptiveDecoder,
    count: int,
    prefix: tuple[ContextModel, PrefixContexts],
    suffix: tuple[ContextModel, SuffixContexts],
    max_prefix: int,
) -> np.ndarray:
    """The ``count`` int64 values :func:`encode_exp_golomb` coded; a prefix longer than
    ``max_prefix`` raises :class:`BitstreamError` (damaged data)."""
    length = np.zeros(count, dtype=np.int64)
    alive = np.arange(count)
    position = 0
    while alive.size:
        if position > max_prefix:
            raise BitstreamError(f"{coder.what}: Exp-Golomb prefix too long (damaged data)")
        more = coder.decode(prefix[0], prefix[1](alive, position))
        alive = alive[more == 1]
        length[alive] += 1
        position += 1
    m = np.ones(count, dtype=np.int64)
    for bit in range(int(length.max(initial=0)) - 1, -1, -1):
        chosen = np.flatnonzero(length > bit)
        m[chosen] = (m[chosen] << 1) | coder.decode(
            suffix[0], suffix[1](chosen, length[chosen], bit)
        )
    return m - 1
