"""Decoders never raise anything but BitstreamError, and never hang, on damaged bytes."""

import contextlib

import numpy as np

from nmc.bitstream import Chunk, pack, unpack
from nmc.entropy import decode_symbols, decode_tensor, encode_symbols, encode_tensor
from nmc.errors import BitstreamError


def _mutations(data: bytes, rng: np.random.Generator, count: int):
    for i in range(count):
        if i % 2:
            yield data[: int(rng.integers(0, len(data)))]
        else:
            damaged = bytearray(data)
            for _ in range(int(rng.integers(1, 4))):
                damaged[int(rng.integers(0, len(damaged)))] ^= int(rng.integers(1, 256))
            yield bytes(damaged)


def _sample_file(rng: np.random.Generator) -> bytes:
    x = np.round(rng.laplace(0, 3, (4, 50))).astype(np.int16)
    ctx = rng.integers(0, 3, 300)
    return pack(
        1,
        b"hdr",
        [
            Chunk("TENS", encode_tensor(x, channel_axis=0)),
            Chunk("SYMB", encode_symbols(rng.integers(0, 8, 300), ctx, 8, 3)),
        ],
    )


def test_container_fuzz_10000_raise_only_bitstream_error():
    rng = np.random.default_rng(7)
    data = _sample_file(rng)
    for damaged in _mutations(data, rng, 10_000):
        try:
            unpack(damaged)
        except BitstreamError:
            continue


def test_payload_decoders_fuzz_without_crc():
    rng = np.random.default_rng(8)
    tensor = encode_tensor(np.round(rng.laplace(0, 5, (3, 64))).astype(np.int32), channel_axis=0)
    ctx = rng.integers(0, 4, 500)
    symbols = encode_symbols(rng.integers(0, 16, 500), ctx, 16, 4)
    for damaged in _mutations(tensor, rng, 2000):
        with contextlib.suppress(BitstreamError):
            decode_tensor(damaged)
    for damaged in _mutations(symbols, rng, 2000):
        with contextlib.suppress(BitstreamError):
            decode_symbols(damaged, ctx, 16, 4)
