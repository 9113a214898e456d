"""Quantization-aware training on a real task: fitting a crop of the carphone sequence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nmc.errors import InputError
from nmc.weights import dequantize, quantize, step_for_bits
from nmc.weights.fake_quant import FakeQuant, add_fake_quant, remove_fake_quant
from tests.weights.frame_task import features, fit, frame_crop, loss, mlp


@pytest.mark.parametrize("bits", [3, 4])
def test_qat_beats_post_training_quantization(carphone, bits):
    torch.set_num_threads(1)
    target, x = frame_crop(carphone), features()
    pretrained = mlp()
    fit(pretrained, x, target, 300, 3e-3)
    state = pretrained.state_dict()

    ptq = mlp()
    ptq.load_state_dict(state)
    fit(ptq, x, target, 150, 3e-3)  # same number of training steps as QAT gets
    with torch.no_grad():
        for layer in ptq:
            if isinstance(layer, nn.Linear):
                step = step_for_bits(layer.weight, bits, channel_axis=0)
                layer.weight.copy_(dequantize(quantize(layer.weight, step, 0, bits), step, 0))

    qat = mlp()
    qat.load_state_dict(state)
    add_fake_quant(qat, bits, channel_axis=0).train()
    fit(qat, x, target, 150, 1e-3)
    linears = [layer for layer in qat if isinstance(layer, nn.Linear)]
    steps = [layer.parametrizations.weight[0].step() for layer in linears]
    remove_fake_quant(qat)

    for layer, step in zip(linears, steps):  # baked weights sit on their learned grid
        levels = layer.weight.detach() / step[:, None]
        assert torch.allclose(levels, torch.round(levels), atol=1e-3)
        assert int(torch.round(levels).abs().max()) <= (1 << (bits - 1)) - 1
    assert loss(qat, x, target) < 0.8 * loss(ptq, x, target)


def test_eval_mode_is_exact_quantization_and_ste_passes_gradients():
    w = torch.randn(6, 5, generator=torch.Generator().manual_seed(3), requires_grad=True)
    fq = FakeQuant.for_tensor(w.detach(), bits=4, channel_axis=0)
    fq.eval()
    step = fq.step()
    expected = dequantize(quantize(w.detach(), step, 0, bits=4), step, 0)
    assert torch.equal(fq(w), expected)
    assert torch.equal(fq.levels(w), quantize(w.detach(), step, 0, bits=4))
    for mode in ("ste", "noise"):
        fq = FakeQuant.for_tensor(w.detach(), bits=4, channel_axis=0, mode=mode).train()
        w.grad = None
        fq(w).sum().backward()
        assert w.grad is not None and bool(torch.isfinite(w.grad).all())
        assert fq.log_step.grad is not None
    with pytest.raises(InputError):
        FakeQuant(0.1, mode="soft")
