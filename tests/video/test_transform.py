"""P-frame transform residual: DCT, quantizer decisions, coefficient coding, damaged payloads."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextState
from nmc.entropy.stream import StreamReader, SymbolRecord
from nmc.errors import BitstreamError
from nmc.video.coefficient_coder import (
    max_symbols,
    read_coefficients,
    write_coefficients,
    zigzag,
)
from nmc.video.planes import loss_weights, to_grid
from nmc.video.transform import (
    BLOCK_SIDES,
    TransformResidual,
    block_grid,
    forward,
    from_planes,
    inverse,
    quantize,
    render,
    start_index,
    step_size,
    to_planes,
)


def _error(clip, shift: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """A real prediction error (frame 1 minus frame 0 shifted) and the clip's loss weights."""
    target = to_grid(*clip.frame(1))
    prediction = torch.roll(to_grid(*clip.frame(0)), shift, dims=2)
    return target - prediction, loss_weights(clip.height, clip.width)


def _round_trip(residuals: list[TransformResidual], rows: int, cols: int) -> tuple[list, float]:
    """Code ``residuals`` one after the other with carried statistics, read them back."""
    record = SymbolRecord()
    coder = AdaptiveEncoder(ContextState(), record)
    for residual in residuals:
        write_coefficients(coder, residual)
    reader = StreamReader(record.to_bytes(), record.symbols, "test")
    decoder = AdaptiveDecoder.sharing(reader, ContextState())
    back = [read_coefficients(decoder, rows, cols) for _ in residuals]
    assert reader.remaining == 0
    return back, record.bits


@pytest.mark.parametrize("n", [4, 8])
def test_dct_is_orthonormal_and_inverted_exactly(n):
    plane = torch.rand(13, 21, dtype=torch.float64)
    rows, cols = -(-13 // n), -(-21 // n)
    coefficients = forward(plane, n, rows, cols)
    assert torch.allclose(inverse(coefficients, 13, 21), plane, atol=1e-12)
    assert float((coefficients**2).sum()) == pytest.approx(float((plane**2).sum()))
    assert sorted(zigzag(n).tolist()) == list(range(n * n))


def test_planes_layout_round_trips(clip):
    frame = to_grid(*clip.frame(0))
    planes = to_planes(frame)
    assert planes[0].shape == (2 * frame.shape[1], 2 * frame.shape[2])
    assert torch.equal(from_planes(planes).float(), frame)


def test_quantizer_codes_what_pays_and_nothing_at_a_huge_lambda(clip):
    error, weights = _error(clip)
    before = float((weights * error**2).sum())
    for lam in (1e-6, 1e-4):
        residual = quantize(error, weights, lam, start_index(lam, weights))
        assert not residual.empty
        after = float((weights * (error - render(residual, *error.shape[1:])) ** 2).sum())
        assert after < 0.8 * before
    assert quantize(error, weights, 10.0, start_index(10.0, weights)).empty
    # a finer step leaves less error where both code every block
    fine, coarse = (quantize(error, weights, 1e-9, index) for index in (6, 24))
    left = [(weights * (error - render(r, *error.shape[1:])) ** 2).sum() for r in (fine, coarse)]
    assert float(left[0]) < float(left[1])
    assert step_size(6) == pytest.approx(2.0)


def test_coefficients_round_trip_with_carried_statistics(clip):
    error, weights = _error(clip)
    rows, cols = block_grid(*error.shape[1:])
    residuals = [quantize(error, weights, lam, start_index(lam, weights)) for lam in (1e-5, 3e-5)]
    back, bits = _round_trip(residuals, rows, cols)
    for sent, got in zip(residuals, back):
        assert got.step_index == sent.step_index
        assert all(np.array_equal(a, b) for a, b in zip(sent.levels, got.levels))
    assert bits > 0
    # the second frame costs less than it would alone: the first one taught the contexts
    _, alone = _round_trip(residuals[1:], rows, cols)
    _, first = _round_trip(residuals[:1], rows, cols)
    assert bits - first < alone


def test_a_smooth_error_costs_few_bits_per_block():
    """One low frequency per block (the typical smooth error) costs a handful of bits: the
    zeros after the last coded position are not coded."""
    rows, cols = 6, 7
    levels = []
    for n in BLOCK_SIDES:
        plane = np.zeros((rows, cols, n, n), dtype=np.int64)
        plane[..., 0, 0] = 2
        levels.append(plane)
    _, bits = _round_trip([TransformResidual(30, tuple(levels))], rows, cols)
    assert bits < 3 * rows * cols * 4


def test_damaged_coefficients_raise_only_bitstream_errors(clip):
    error, weights = _error(clip)
    rows, cols = block_grid(*error.shape[1:])
    residual = quantize(error, weights, 1e-5, start_index(1e-5, weights))
    record = SymbolRecord()
    write_coefficients(AdaptiveEncoder(ContextState(), record), residual)
    data = record.to_bytes()
    rng = np.random.default_rng(5)
    bound = max_symbols(rows, cols)
    assert record.symbols <= bound
    refused = 0
    for trial in range(40):
        damaged = bytearray(data)
        if trial % 4 == 0:
            damaged = damaged[: rng.integers(len(damaged))]
        else:
            damaged[rng.integers(len(damaged))] ^= int(rng.integers(1, 256))
        reader = StreamReader(bytes(damaged), record.symbols, "test")
        try:
            read_coefficients(AdaptiveDecoder.sharing(reader, ContextState()), rows, cols)
        except BitstreamError:
            refused += 1
    with contextlib.suppress(BitstreamError):  # random bytes: refused or read, nothing else
        reader = StreamReader(rng.bytes(64), bound, "test")
        read_coefficients(AdaptiveDecoder.sharing(reader, ContextState()), rows, cols)
    assert refused > 0
