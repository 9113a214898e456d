"""Context-modelled coding of symbol streams with backward-adaptive frequency tables.

Each symbol is coded with the statistics of its context (e.g. the occupancy pattern of an
octree node's parent and neighbours). Statistics are learnt on the fly, identically on both
sides, so no table travels in the stream: the symbols are cut into blocks of growing size
(1024, 2048, ... up to 2**17), each block is coded with the counts gathered from the blocks
before it, then the counts are updated. Counts start at 1 per symbol and grow by 32 per
occurrence (a prior of 1/32 of an observation), and are halved when a context's total
reaches 2**24, which keeps the tables adaptive to drifting statistics.

Payload: ``count:uvarint`` then one ``blob`` of rANS bytes per block.
"""

from __future__ import annotations

import numpy as np

from nmc.bitstream.fields import FieldReader, FieldWriter
from nmc.entropy.rans import quantize_weights, rans_decode, rans_encode
from nmc.errors import BitstreamError, InputError

MAX_ALPHABET = 4096
MAX_TABLE_ENTRIES = 1 << 24
_FIRST_BLOCK = 1024
_LAST_BLOCK = 1 << 17
_INCREMENT = 32
_HALVE_AT = 1 << 24


def _check(
    symbols: np.ndarray, contexts: np.ndarray, alphabet_size: int, num_contexts: int
) -> None:
    if not 2 <= alphabet_size <= MAX_ALPHABET:
        raise InputError(f"alphabet_size must be in [2, {MAX_ALPHABET}], got {alphabet_size}")
    if num_contexts < 1 or num_contexts * alphabet_size > MAX_TABLE_ENTRIES:
        raise InputError(
            f"num_contexts * alphabet_size must be in [1, {MAX_TABLE_ENTRIES}], "
            f"got {num_contexts} * {alphabet_size}"
        )
    if contexts.ndim != 1 or (symbols is not None and symbols.shape != contexts.shape):
        raise InputError("symbols and contexts must be 1-D arrays of the same length")
    if contexts.size and (contexts.min() < 0 or contexts.max() >= num_contexts):
        raise InputError(f"contexts must lie in [0, {num_contexts})")
    if (
        symbols is not None
        and symbols.size
        and (symbols.min() < 0 or symbols.max() >= alphabet_size)
    ):
        raise InputError(f"symbols must lie in [0, {alphabet_size})")


def _blocks(count: int) -> list[tuple[int, int]]:
    out, start, size = [], 0, _FIRST_BLOCK
    while start < count:
        out.append((start, min(start + size, count)))
        start += size
        size = min(size * 2, _LAST_BLOCK)
    return out


class _AdaptiveTables:
    """Per-context symbol counts shared by encoder and decoder."""

    def __init__(self, alphabet_size: int, num_contexts: int) -> None:
        self.alphabet = alphabet_size
        self.counts = np.ones((num_contexts, alphabet_size), dtype=np.int64)

    def tables_for(self, contexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(table_index [N], freqs [U, A])`` for the contexts of one block."""
        used, table_index = np.unique(contexts, return_inverse=True)
        return table_index.astype(np.int64), quantize_weights(self.counts[used])

    def update(self, symbols: np.ndarray, contexts: np.ndarray) -> None:
        flat = self.counts.reshape(-1)
        flat += _INCREMENT * np.bincount(contexts * self.alphabet + symbols, minlength=flat.size)
        full = self.counts.sum(axis=1) >= _HALVE_AT
        if np.any(full):
            self.counts[full] = (self.counts[full] + 1) >> 1


def encode_symbols(
    symbols: np.ndarray, contexts: np.ndarray, alphabet_size: int, num_contexts: int
) -> bytes:
    """Code ``symbols`` (int [N], in [0, alphabet_size)) under ``contexts`` (int [N]).

    ``contexts`` lie in [0, num_contexts).

    The decoder needs the same ``contexts``, ``alphabet_size`` and ``num_contexts``; compute
    contexts only from data it has already decoded.
    """
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    contexts = np.asarray(contexts, dtype=np.int64)
    _check(symbols, contexts, alphabet_size, num_contexts)
    out = FieldWriter().uvarint(symbols.size)
    tables = _AdaptiveTables(alphabet_size, num_contexts)
    for start, stop in _blocks(symbols.size):
        block_symbols, block_contexts = symbols[start:stop], contexts[start:stop]
        table_index, freqs = tables.tables_for(block_contexts)
        out.blob(rans_encode(block_symbols, table_index, freqs))
        tables.update(block_symbols, block_contexts)
    return out.getvalue()


def decode_symbols(
    data: bytes, contexts: np.ndarray, alphabet_size: int, num_contexts: int
) -> np.ndarray:
    """Inverse of :func:`encode_symbols`: int64 [N]; :class:`BitstreamError` on bad bytes."""
    contexts = np.asarray(contexts, dtype=np.int64)
    _check(None, contexts, alphabet_size, num_contexts)
    src = FieldReader(data, "context-coded symbols")
    if src.uvarint() != contexts.size:
        raise BitstreamError("context-coded symbols: symbol count does not match the contexts")
    out = np.empty(contexts.size, dtype=np.int64)
    tables = _AdaptiveTables(alphabet_size, num_contexts)
    for start, stop in _blocks(contexts.size):
        block_contexts = contexts[start:stop]
        table_index, freqs = tables.tables_for(block_contexts)
        block = rans_decode(src.blob(), table_index, freqs)
        out[start:stop] = block
        tables.update(block, block_contexts)
    src.expect_end()
    return out
