"""Backward-adaptive binary context coding into one rANS stream, statistics that persist.

:func:`encode_symbols` codes one call into one stream and starts every call from
flat statistics. Octree occupancy and transform coefficients are coded in many small,
dependent passes (a pass's contexts depend on the passes decoded before it), and a cloud's
colours at a low QP take only a few hundred bytes, so both a fresh stream per pass (8 bytes of
rANS flush each) and re-learning the statistics per pass cost more than context modelling
gains (measured on learn30: 5.80 against 4.95 bits per point of geometry). Here one
:class:`AdaptiveEncoder` codes any number of passes of binary symbols into a single stream,
and an :class:`AdaptiveDecoder` reads them back pass by pass. Everything the codec codes is
binarized first, so binary models suffice and they learn fast.

Adaptation: a pass is cut into blocks that grow from the model's ``first_block`` to its
``last_block`` symbols; a block is coded with the counts of the symbols coded before it in its
context (counts grow by :data:`INCREMENT` per occurrence and are halved when a context's
total reaches the model's ``halve_at``, which forgets old statistics: point clouds in Morton
order are far from stationary; see :class:`ContextModel` for the prior), then the counts are
updated. Encoder and decoder run the same integer updates, so no table travels in the stream.

The rANS coder is compressai's C++ one (16-bit precision), used the way
:mod:`nmc.entropy.rans` uses it: tables end with a zero-width escape interval so its bypass
path never runs, and the decoder's input is zero-padded for the largest number of symbols it
may be asked to decode, so a damaged stream yields wrong symbols (caught by the callers'
consistency checks), never a read past the buffer. Its extension module is loaded on its
own: importing the ``compressai`` package imports torch and its model zoo (about 1 GiB of
memory and 6 s here), none of which the coder needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmc.entropy.rans import PRECISION_TOTAL
from nmc.entropy.stream import StreamReader, StreamWriter, SymbolSink, ideal_bits
from nmc.errors import BitstreamError

INCREMENT = 16
_PRIOR_BITS = 8


@dataclass(frozen=True)
class ContextModel:
    """One adaptive binary model with ``num_contexts`` contexts.

    Models are told apart by ``name``: passes coded with the same name share statistics.
    ``share`` > 0 pools the statistics of the contexts ``c`` with equal ``c // share`` into a
    prior worth ``prior`` observations that every one of them starts from and is smoothed
    with, so a context seen for the first time is coded with its family's statistics
    instead of flat ones (hierarchical smoothing).
    """

    name: str
    num_contexts: int
    first_block: int = 64
    last_block: int = 2048
    halve_at: int = 1 << 20
    share: int = 0
    prior: int = 4


class _Statistics:
    """Per-context counts of zeros and ones, shared logic of encoder and decoder."""

    def __init__(self, model: ContextModel) -> None:
        self.model = model
        self.counts = np.zeros((model.num_contexts, 2), dtype=np.int64)
        families = model.num_contexts // model.share + 1 if model.share else 0
        self.family = np.zeros((families, 2), dtype=np.int64)
        self._present = np.zeros(model.num_contexts, dtype=bool)
        self._slot = np.zeros(model.num_contexts, dtype=np.int64)

    def weights(self, used: np.ndarray) -> np.ndarray:
        """int64 ``[len(used), 2]`` positive weights, proportional to the probabilities."""
        model = self.model
        own = self.counts[used] << _PRIOR_BITS
        if not model.share:
            return own + (1 << _PRIOR_BITS)
        family = self.family[used // model.share] + 1
        total = family.sum(axis=1, keepdims=True)
        prior = (model.prior * INCREMENT * family << _PRIOR_BITS) // total
        return own + np.maximum(prior, 1)

    def tables(
        self, contexts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[list[int]], np.ndarray]:
        """``(used contexts, per-symbol table index, compressai cdf tables, frequency of a
        one per table)`` of one block."""
        present = self._present
        present[contexts] = True
        used = np.flatnonzero(present)
        present[used] = False
        self._slot[used] = np.arange(used.size)
        weights = self.weights(used)
        total = weights.sum(axis=1)
        one = (weights[:, 1] * PRECISION_TOTAL + total // 2) // total
        one = np.clip(one, 1, PRECISION_TOTAL - 1)
        cdf = np.empty((used.size, 4), dtype=np.int64)
        cdf[:, 0] = 0
        cdf[:, 1] = PRECISION_TOTAL - one
        cdf[:, 2:] = PRECISION_TOTAL
        return used, self._slot[contexts], cdf.tolist(), one

    def update(self, used: np.ndarray, index: np.ndarray, symbols: np.ndarray) -> None:
        """Count the block's ``symbols`` (table ``index`` into ``used`` contexts)."""
        limit = self.model.halve_at
        seen = INCREMENT * np.bincount(2 * index + symbols, minlength=2 * used.size)
        seen = seen.reshape(used.size, 2)
        self.counts[used] = _halved(self.counts[used] + seen, limit)
        if self.model.share:
            families, at = np.unique(used // self.model.share, return_inverse=True)
            rows = self.family[families]
            np.add.at(rows, at, seen)
            self.family[families] = _halved(rows, limit)


def _halved(rows: np.ndarray, limit: int) -> np.ndarray:
    """``rows`` with the rows whose total reached ``limit`` halved (forgetting old counts)."""
    if rows.size == 0 or 2 * int(rows.max()) < limit:
        return rows
    full = rows.sum(axis=1) >= limit
    rows[full] = (rows[full] + 1) >> 1
    return rows


class ContextState:
    """The statistics of every model, which may carry over from one stream to the next."""

    def __init__(self) -> None:
        self._models: dict[str, _Statistics] = {}

    def of(self, model: ContextModel) -> _Statistics:
        if model.name not in self._models:
            self._models[model.name] = _Statistics(model)
        return self._models[model.name]

    def copy(self) -> ContextState:
        """An independent copy: coding from it leaves these statistics as they are."""
        out = ContextState()
        for name, stats in self._models.items():
            twin = out._models[name] = _Statistics(stats.model)
            twin.counts[:], twin.family[:] = stats.counts, stats.family
        return out


def _blocks(model: ContextModel, count: int) -> list[tuple[int, int]]:
    """Block bounds of a pass: ``first_block`` symbols, then doubling up to ``last_block``.

    Every pass starts small again: a new pass (level, child class, channel) usually brings
    new statistics, and short blocks let the counts catch up quickly.
    """
    out, start, size = [], 0, model.first_block
    while start < count:
        out.append((start, min(start + size, count)))
        start += size
        size = min(size * 2, model.last_block)
    return out


_SIZES = [4]


class AdaptiveEncoder:
    """Codes passes of binary symbols under adaptive context models into one rANS stream.

    Each model keeps its statistics in ``state`` (a fresh one unless given: pass the previous
    stream's to carry them over; the decoder must do the same). The symbols go to ``sink``
    when given (a stream other coders share, :mod:`nmc.entropy.stream`), else to a stream of
    their own (:meth:`finish`).
    """

    def __init__(self, state: ContextState | None = None, sink: SymbolSink | None = None) -> None:
        self._own = sink is None
        self.sink = StreamWriter() if sink is None else sink
        self.state = state if state is not None else ContextState()
        self.symbols = 0

    def encode(self, model: ContextModel, symbols: np.ndarray, contexts: np.ndarray) -> None:
        """Code ``symbols`` (bool or 0/1 [N]) under ``contexts`` (int [N]).

        The decoder must be able to compute ``contexts`` from what it decoded before.
        """
        symbols = np.asarray(symbols).astype(np.int64).ravel()
        contexts = np.asarray(contexts, dtype=np.int64).ravel()
        if symbols.shape != contexts.shape:
            raise ValueError("symbols and contexts must have the same length")
        if symbols.size and (symbols.min() < 0 or symbols.max() > 1):
            raise ValueError("symbols must be 0 or 1")
        if contexts.size and (contexts.min() < 0 or contexts.max() >= model.num_contexts):
            raise ValueError(f"contexts must lie in [0, {model.num_contexts})")
        stats = self.state.of(model)
        for start, stop in _blocks(model, symbols.size):
            block, ctx = symbols[start:stop], contexts[start:stop]
            used, index, cdfs, one = stats.tables(ctx)
            freq = np.where(block == 1, one[index], PRECISION_TOTAL - one[index])
            self.sink.write(block, index, (cdfs, _SIZES * len(cdfs)), ideal_bits(freq))
            stats.update(used, index, block)
        self.symbols += symbols.size

    def cost_bits(self, model: ContextModel, symbol: int, contexts: np.ndarray) -> np.ndarray:
        """float64 [N]: bits that ``symbol`` would cost now in each of ``contexts``.

        An estimate from the current counts (the encoder's rate-distortion decisions use it).
        """
        weights = self.state.of(model).weights(np.asarray(contexts, dtype=np.int64))
        return np.log2(weights.sum(axis=1) / weights[:, symbol])

    def finish(self) -> bytes:
        """The rANS stream of everything coded (empty when nothing was); only for a coder
        with a stream of its own."""
        if not self._own:
            raise ValueError("a coder writing to a shared sink does not finish the stream")
        return self.sink.finish() if self.symbols else b""


class AdaptiveDecoder:
    """Reads back the passes an :class:`AdaptiveEncoder` wrote, in the same order.

    Args:
        data: the stream.
        max_symbols: the most symbols the caller will decode (bounds the zero padding);
            :attr:`remaining` counts down from it.
        what: names the stream in errors.
        state: the statistics the encoder started from (None = fresh).
    """

    def __init__(
        self, data: bytes, max_symbols: int, what: str, state: ContextState | None = None
    ) -> None:
        self._init(StreamReader(data, max_symbols, what), state)

    @classmethod
    def sharing(cls, reader: StreamReader, state: ContextState | None = None) -> AdaptiveDecoder:
        """A decoder of the passes an encoder wrote to a shared sink, reading from ``reader``
        (other decoders may read from it between passes, as their encoders wrote)."""
        decoder = cls.__new__(cls)
        decoder._init(reader, state)
        return decoder

    def _init(self, reader: StreamReader, state: ContextState | None) -> None:
        self.reader = reader
        self.what = reader.what
        self.state = state if state is not None else ContextState()

    @property
    def remaining(self) -> int:
        """Symbols the stream may still hold."""
        return self.reader.remaining

    def decode(self, model: ContextModel, contexts: np.ndarray) -> np.ndarray:
        """Decode ``len(contexts)`` binary symbols (int64 [N], 0 or 1) of ``model``."""
        contexts = np.asarray(contexts, dtype=np.int64).ravel()
        if contexts.size and (contexts.min() < 0 or contexts.max() >= model.num_contexts):
            raise BitstreamError(f"{self.what}: inconsistent contexts (damaged stream)")
        stats = self.state.of(model)
        out = np.empty(contexts.size, dtype=np.int64)
        for start, stop in _blocks(model, contexts.size):
            ctx = contexts[start:stop]
            used, index, cdfs, _ = stats.tables(ctx)
            out[start:stop] = self.reader.read(index, (cdfs, _SIZES * len(cdfs)))
            stats.update(used, index, out[start:stop])
        if out.size and out.max() > 1:
            raise BitstreamError(f"{self.what}: symbol outside its alphabet (damaged stream)")
        return out


def seeded_state(seeds: dict[ContextModel, np.ndarray]) -> ContextState:
    """Statistics that start from given counts instead of none (CABAC's initial states).

    Args:
        seeds: per model, int ``[num_contexts, 2]`` counts of zeros and ones in
            :data:`INCREMENT` units per observation (e.g. learnt offline on typical data).
            A model with ``share`` also starts its families from their contexts' sums.

    The decoder must start from the same seeds.
    """
    state = ContextState()
    for model, counts in seeds.items():
        stats = state.of(model)
        counts = np.asarray(counts, dtype=np.int64)
        if counts.shape != stats.counts.shape or (counts.size and counts.min() < 0):
            raise ValueError(
                f"seed of {model.name!r} must be non-negative counts of shape "
                f"{stats.counts.shape}, got {counts.shape}"
            )
        stats.counts[:] = counts
        if model.share:
            np.add.at(stats.family, np.arange(model.num_contexts) // model.share, counts)
    return state
