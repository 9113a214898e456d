"""One rANS stream shared by several coders, with the ideal cost of everything written.

compressai's rANS coder keeps a 64-bit state and writes 32-bit words: every stream costs its
content plus 4 to 8 bytes of flush, rounded up to whole words. A video P frame at low rate
holds a few dozen bits of motion and residual, so one stream per part and per frame spent more
on flushes than on content (carphone at quality 1: about a quarter of the file). Here the
coders of a whole group of frames — adaptive binary contexts (:mod:`nmc.entropy.adaptive`),
Laplace tables (:mod:`nmc.entropy.laplace`), raw bytes — append *runs* of symbols, each run
with its own tables, to one writer, and the reader takes them back run by run in the same
order.

* :class:`StreamWriter` codes straight into compressai's buffered encoder.
* :class:`SymbolRecord` keeps the runs instead, so an encoder can price alternatives (the
  ideal bits, ``-log2`` of each coded symbol's quantized probability, are exact up to the
  stream's one flush) and append only the one it chooses (:meth:`SymbolRecord.replay`).
* :class:`StreamReader` decodes runs; it never reads past its buffer (the stream is
  zero-padded for the number of symbols the caller says it holds, at most 16 bits each) and
  refuses to decode more symbols than that.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from nmc.entropy.rans import PRECISION_TOTAL, ans_extension
from nmc.errors import BitstreamError

Tables = tuple[list[list[int]], list[int]]
"""compressai's tables: cumulative frequencies per table and each table's length."""

_PAD_BYTES_PER_SYMBOL = 2
_PAD_BASE = 64
# Raw bytes (escaped values) are coded with a flat table over 256 symbols.
_BYTE_TABLES: Tables = (
    [[i * (PRECISION_TOTAL // 256) for i in range(257)] + [PRECISION_TOTAL]],
    [258],
)


def ideal_bits(freq: np.ndarray) -> float:
    """``sum(-log2(freq / 2**16))`` of the coded symbols' frequencies (int [N])."""
    freq = np.asarray(freq, dtype=np.float64)
    return float(freq.size * 16 - np.log2(freq).sum()) if freq.size else 0.0


class SymbolSink(ABC):
    """Where runs go (a :class:`StreamWriter` or a :class:`SymbolRecord`): counts the symbols
    and their ideal bits, and codes raw bytes as runs of a flat table."""

    def __init__(self) -> None:
        self.symbols = 0
        self.bits = 0.0

    @abstractmethod
    def write(self, symbols: np.ndarray, index: np.ndarray, tables: Tables, bits: float) -> None:
        """Append a run: ``symbols[i]`` (int [N]) coded with table ``index[i]`` of
        ``tables``; ``bits`` is the run's ideal cost (the caller knows its frequencies)."""

    def write_bytes(self, data: bytes) -> None:
        """Append raw bytes (8 bits each)."""
        if data:
            self.write(np.frombuffer(data, np.uint8).astype(np.int64),
                       np.zeros(len(data), np.int64), _BYTE_TABLES, 8.0 * len(data))  # fmt: skip

    def _count(self, size: int, bits: float) -> None:
        self.symbols += size
        self.bits += bits


class StreamWriter(SymbolSink):
    """Codes runs into one rANS stream (:meth:`finish`)."""

    def __init__(self) -> None:
        super().__init__()
        self._rans = ans_extension().BufferedRansEncoder()

    def write(self, symbols: np.ndarray, index: np.ndarray, tables: Tables, bits: float) -> None:
        symbols = np.asarray(symbols, dtype=np.int64).ravel()
        if symbols.size:
            cdfs, sizes = tables
            self._rans.encode_with_indexes(
                symbols.tolist(), np.asarray(index, np.int64).ravel().tolist(), cdfs, sizes,
                [0] * len(sizes),
            )  # fmt: skip
        self._count(symbols.size, bits)

    def finish(self) -> bytes:
        """The stream (empty when nothing was written)."""
        return self._rans.flush() if self.symbols else b""


class SymbolRecord(SymbolSink):
    """Keeps runs to price them (:attr:`bits`) and append them later to a writer."""

    def __init__(self) -> None:
        super().__init__()
        self._runs: list[tuple[np.ndarray, np.ndarray, Tables, float]] = []

    def write(self, symbols: np.ndarray, index: np.ndarray, tables: Tables, bits: float) -> None:
        symbols = np.asarray(symbols, dtype=np.int64).ravel()
        self._runs.append((symbols, np.asarray(index, np.int64).ravel(), tables, bits))
        self._count(symbols.size, bits)

    def replay(self, sink: SymbolSink) -> None:
        """Append every run, in order, to ``sink``."""
        for run in self._runs:
            sink.write(*run)

    def to_bytes(self) -> bytes:
        """The runs alone as one stream."""
        writer = StreamWriter()
        self.replay(writer)
        return writer.finish()


class StreamReader:
    """Decodes the runs of a stream in the order they were written.

    Args:
        data: the stream.
        symbols: how many symbols it holds (the writer's :attr:`~StreamWriter.symbols`); reads
            beyond that raise :class:`BitstreamError`.
        what: names the stream in errors.
    """

    def __init__(self, data: bytes, symbols: int, what: str) -> None:
        need = _PAD_BYTES_PER_SYMBOL * symbols + _PAD_BASE
        padded = bytes(data) + bytes(max(need - len(data), _PAD_BASE))
        self._rans = ans_extension().RansDecoder()
        self._rans.set_stream(padded)
        self.remaining = symbols
        self.what = what

    def read(self, index: np.ndarray, tables: Tables) -> np.ndarray:
        """The next ``len(index)`` symbols (int64), symbol ``i`` from table ``index[i]``."""
        index = np.asarray(index, dtype=np.int64).ravel()
        if index.size > self.remaining:
            raise BitstreamError(f"{self.what}: more symbols than the stream holds (damaged)")
        self.remaining -= index.size
        if not index.size:
            return np.zeros(0, dtype=np.int64)
        cdfs, sizes = tables
        return np.asarray(
            self._rans.decode_stream(index.tolist(), cdfs, sizes, [0] * len(sizes)), np.int64
        )

    def read_bytes(self, count: int) -> bytes:
        """The next ``count`` raw bytes (:meth:`StreamWriter.write_bytes`)."""
        return self.read(np.zeros(count, np.int64), _BYTE_TABLES).astype(np.uint8).tobytes()
