"""Encoder side of a network step: fine-tune a few structured parts of MS-GAT on one cloud.

The groups of :mod:`nmc.pointcloud.msgat.stepping` (row and column scales of the Chebyshev
weights, the input embedding and the Chebyshev biases, ≈ 2 k values) are trained with Adam
on the cloud's own patches, together with a free head that is not sent (the encoder's
per-channel head solve replaces it on the stepped features). The loss is the score the
encoder ranks updates by (:mod:`nmc.pointcloud.msgat.adapt`), in its units: minus the
PSNR-YUV gain over the codec's slope, plus an L1 rate proxy of the integers,
``2 Σ|v| / step / R`` bits over the cloud's attribute bits (a ±1 costs 2 bits more than a
0), which pushes the groups that do not pay to exactly 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from nmc.media.ycbcr import rgb_to_ycbcr
from nmc.pointcloud.msgat.calibrate import DB_PER_LOG_RATE, YUV_WEIGHTS
from nmc.pointcloud.msgat.graph import build_patch_graph
from nmc.pointcloud.msgat.patches import iter_patches
from nmc.pointcloud.msgat.stepping import NetworkStep, quantize_step, step_groups, stepped_tensors


@dataclass(frozen=True)
class FinetuneConfig:
    """How the encoder fine-tunes the network on a cloud.

    Attributes:
        epochs: passes over the training patches.
        lr: Adam learning rate of the group values (scales are relative, deltas absolute).
        exponents: steps ``2^-e`` the trained values are rounded at (one candidate each).
        batch_patches: patches per Adam step.
        max_points: patches beyond about this many points are skipped evenly (time and
            memory of large clouds).
        rate_bits_per_level: bits the L1 rate proxy charges per unit of ``|v| / step``.
        group_rate: also charge a group's size in bits, in proportion to its norm up to one
            step (a coded group spends at least a bit per value).
    """

    epochs: int = 4
    lr: float = 3e-3
    exponents: tuple[int, ...] = (4,)
    batch_patches: int = 4
    max_points: int = 240_000
    rate_bits_per_level: float = 2.0
    group_rate: bool = True


def finetune_steps(
    model: torch.nn.Module,
    xyz: np.ndarray,
    original: np.ndarray,
    decoded: np.ndarray,
    step: np.ndarray,
    attribute_bits: int,
    patches,
    config: FinetuneConfig | None = None,
) -> list[NetworkStep]:
    """Candidate network steps for one cloud, one per step exponent of ``config``.

    Args:
        model: the shipped network (not modified).
        xyz: ``[N, 3]`` int coordinates in canonical (Morton) order; original, decoded:
            ``[N, 3]`` uint8 RGB; step: ``[N]`` float32 quantization steps (colour levels).
        attribute_bits: the cloud's attribute bits (R of the score).
        patches: the filter's :class:`~nmc.pointcloud.msgat.config.PatchConfig`.
        config: training options.

    Returns:
        The rounded steps (groups that round to all-zero are not coded); empty when the
        cloud is smaller than one patch.
    """
    config = config or FinetuneConfig()
    reference = {k: v.detach().float() for k, v in model.state_dict().items()}
    groups = step_groups(reference)
    if xyz.shape[0] <= patches.patch_size:
        return []
    values = [torch.zeros(g.size, requires_grad=True) for g in groups]
    head = {k: reference[k].clone().requires_grad_(True) for k in ("head.weight", "head.bias")}
    ycc = torch.from_numpy(rgb_to_ycbcr(decoded).astype(np.float32))
    target = torch.from_numpy(rgb_to_ycbcr(original).astype(np.float32))
    steps = torch.from_numpy(np.asarray(step, dtype=np.float32))
    batches = _training_batches(
        xyz, replace(patches, batch_patches=config.batch_patches), model, config
    )
    weights = torch.tensor(YUV_WEIGHTS, dtype=torch.float32)
    scale = 10.0 / math.log(10.0) / DB_PER_LOG_RATE
    l1 = config.rate_bits_per_level * 2.0 ** config.exponents[0] / max(int(attribute_bits), 1)
    optimizer = torch.optim.Adam([*values, *head.values()], lr=config.lr)
    inv_step = 2.0 ** config.exponents[0]
    sizes = torch.tensor([float(g.size) for g in groups])
    rng = np.random.default_rng(0)
    for _ in range(config.epochs):
        for i in rng.permutation(len(batches)):
            index, blend, graph = batches[i]
            params = {**reference, **stepped_tensors(reference, groups, values), **head}
            x, s = ycc[index], steps[index]
            out = x + torch.func.functional_call(model, params, (x, s, graph))
            before = ((x - target[index]) ** 2 * blend[:, None]).sum(0)
            after = ((out - target[index]) ** 2 * blend[:, None]).sum(0)
            distortion = scale * (weights * torch.log((after + 1e-3) / (before + 1e-3))).sum()
            rate = l1 * sum(v.abs().sum() for v in values)
            if config.group_rate:
                # a coded group costs about a bit per value: pull weak groups to 0 together
                on = torch.stack([(v.norm() * inv_step).clamp(max=1.0) for v in values])
                rate = rate + (on * sizes).sum() / max(int(attribute_bits), 1)
            optimizer.zero_grad()
            (distortion + rate).backward()
            optimizer.step()
    trained = [v.detach().numpy() for v in values]
    return [quantize_step(groups, trained, e) for e in config.exponents]


def _training_batches(xyz, patches, model, config: FinetuneConfig):
    """``(index [B·P], blend weight [B·P], graph)`` of evenly chosen patch batches."""
    stride = max(1, math.ceil(xyz.shape[0] / config.max_points))
    batches = []
    for i, batch in enumerate(iter_patches(xyz, patches)):
        if i % stride:
            continue
        graph = build_patch_graph(xyz[batch.index], model.config.scales, model.config.knn)
        index = torch.from_numpy(batch.index.reshape(-1))
        batches.append((index, torch.from_numpy(batch.weight.reshape(-1)), graph))
    return batches
