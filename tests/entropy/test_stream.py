"""One rANS stream shared by several coders: runs of adaptive bins, Laplace values and raw
bytes in one stream, priced records replayed, ideal bits, bounded and damaged reads."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextModel, ContextState
from nmc.entropy.laplace import LaplaceBank
from nmc.entropy.stream import StreamReader, StreamWriter, SymbolRecord
from nmc.errors import BitstreamError

BINS = ContextModel("test bins", 3, first_block=8, last_block=64)
BANK = LaplaceBank(0.1, 100.0, scale_bins=16, offsets=4, half=20)


def _frame(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """What one 'frame' writes: bins with contexts, Laplace values (some escaped), bytes."""
    values = np.round(rng.laplace(0, 3, 50)).astype(np.int64)
    values[::17] = 500  # beyond the table: escaped
    return {
        "bins": (rng.random(40) < 0.2).astype(np.int64),
        "contexts": rng.integers(0, 3, 40),
        "values": values,
        "base": rng.integers(-2, 3, 50),
        "index": rng.integers(0, 16 * 4, 50),
        "raw": rng.bytes(3),
    }


def _write(sink, state: ContextState, frame: dict) -> None:
    AdaptiveEncoder(state, sink).encode(BINS, frame["bins"], frame["contexts"])
    BANK.write(sink, frame["values"], frame["base"], frame["index"])
    sink.write_bytes(frame["raw"])


def _read(reader: StreamReader, state: ContextState, frame: dict) -> None:
    bins = AdaptiveDecoder.sharing(reader, state).decode(BINS, frame["contexts"])
    assert np.array_equal(bins, frame["bins"])
    values = BANK.read(reader, frame["base"], frame["index"])
    assert np.array_equal(values, frame["values"])
    assert reader.read_bytes(3) == frame["raw"]


def _stream(frames: list[dict]) -> tuple[StreamWriter, bytes]:
    """Every frame written to one stream from fresh statistics: the writer and its stream."""
    writer, state = StreamWriter(), ContextState()
    for frame in frames:
        _write(writer, state, frame)
    return writer, writer.finish()


def test_coders_share_one_stream_and_statistics_carry_over():
    rng = np.random.default_rng(0)
    frames = [_frame(rng) for _ in range(4)]
    writer, data = _stream(frames)
    reader, state = StreamReader(data, writer.symbols, "test"), ContextState()
    for frame in frames:
        _read(reader, state, frame)
    assert reader.remaining == 0
    # One flush for everything: the stream is its ideal bits plus at most 12 bytes.
    assert writer.bits <= 8 * len(data) <= writer.bits + 96


def test_a_replayed_record_is_the_stream_written_directly():
    rng = np.random.default_rng(1)
    first, second = _frame(rng), _frame(rng)
    direct, state = StreamWriter(), ContextState()
    _write(direct, state, first)
    _write(direct, state, second)
    replayed, state = StreamWriter(), ContextState()
    _write(replayed, state, first)
    record = SymbolRecord()
    _write(record, state, second)
    record.replay(replayed)
    assert replayed.finish() == direct.finish()
    assert replayed.symbols == direct.symbols
    assert replayed.bits == pytest.approx(direct.bits)
    alone = record.to_bytes()  # the record's frame on its own decodes after the same state
    reader = StreamReader(alone, record.symbols, "record")
    state = ContextState()
    AdaptiveEncoder(state).encode(BINS, first["bins"], first["contexts"])
    _read(reader, state, second)


def test_ideal_bits_price_what_the_stream_spends():
    """Many frames: the stream's length follows the summed ideal bits within one flush."""
    rng = np.random.default_rng(2)
    writer, data = _stream([_frame(rng) for _ in range(30)])
    assert writer.bits <= 8 * len(data) <= writer.bits + 96


def test_reads_beyond_the_declared_symbols_are_refused():
    writer = StreamWriter()
    writer.write_bytes(b"abc")
    data = writer.finish()
    reader = StreamReader(data, 2, "short")
    assert reader.read_bytes(2) == b"ab"
    with pytest.raises(BitstreamError, match="more symbols than the stream holds"):
        reader.read_bytes(1)
    assert StreamWriter().finish() == b""


def test_damaged_streams_raise_only_bitstream_errors():
    rng = np.random.default_rng(3)
    frames = [_frame(rng) for _ in range(2)]
    writer, data = _stream(frames)
    for trial in range(200):
        damaged = bytearray(data)
        if trial % 4 == 0:
            damaged = damaged[: rng.integers(len(damaged))]
        else:
            damaged[rng.integers(len(damaged))] ^= 1 << int(rng.integers(8))
        reader, state = StreamReader(bytes(damaged), writer.symbols, "damaged"), ContextState()
        with contextlib.suppress(BitstreamError, AssertionError):
            for frame in frames:
                _read(reader, state, frame)
