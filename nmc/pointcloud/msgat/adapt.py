"""Encoder side of content-adaptive filtering: tune the shipped MS-GAT to the cloud it codes.

The encoder runs the shipped network once over the decoded cloud (the features of
:meth:`PostFilter.features`), then weighs four ways of filtering it, each measured exactly
as the decoder will output it (uint8 RGB) against the original colours:

- ``none``: no filter (the header says so; 0 bits) — the encoder's never-worse guarantee;
- ``shipped``: the shipped head and per-step gating (0 bits beyond the update's length);
- ``scalars``: least-squares per-channel strengths of the shipped residual (32 bits);
- ``head``: a new linear head, least squares on the features, its change from the shipped
  head coded with :func:`nmc.weights.encode_update` at the step that scores best.

Score of a choice: its PSNR-YUV gain in dB divided by the codec's rate-distortion slope
(:data:`DB_PER_LOG_RATE`, dB per unit of natural-log rate), minus ``ln(1 + bits / R)`` with R
the cloud's attribute bits: the log-rate the same PSNR would cost the codec against the
log-rate the update adds. The best score wins; nothing scores above 0 means ``none``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from nmc.pointcloud.msgat.calibrate import YUV_WEIGHTS
from nmc.pointcloud.msgat.filter import PostFilter, load_default
from nmc.pointcloud.msgat.update import FilterUpdate, write_filter_update

# Local slope of the codec's PSNR-YUV against ln(attribute bits), measured on the G-PCC
# anchors of ../shared/data/anchors (2.2 .. 4.7 dB between CTC QPs, lower at low rates).
DB_PER_LOG_RATE = 3.0
# Ridge weights (relative to the mean diagonal of X^T X) and steps tried for the head.
_RIDGE = (1e-3, 1e-1)
_HEAD_STEPS = tuple(2.0**-k for k in range(0, 11))


@dataclass(frozen=True)
class Adaptation:
    """The encoder's choice for one cloud.

    Attributes:
        kind: ``"none"``, ``"shipped"``, ``"scalars"`` or ``"head"``.
        payload: the update bytes for the stream (empty for none and shipped).
        gain_db: PSNR gain of the choice over unfiltered colours (y, u, v, yuv), dB.
        candidates: per kind, ``{"bits", "gain_db", "score"}`` of its best-scoring version.
        seconds: wall time of the adaptation (network pass included).
    """

    kind: str
    payload: bytes
    gain_db: dict[str, float]
    candidates: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0


def psnr_gain(original: np.ndarray, decoded: np.ndarray, filtered: np.ndarray) -> np.ndarray:
    """Per-channel PSNR gain ``[3]`` (dB) of ``filtered`` over ``decoded`` (uint8 RGB)."""
    ref = rgb_to_ycbcr(original)
    before = np.mean((rgb_to_ycbcr(decoded) - ref) ** 2, axis=0)
    after = np.mean((rgb_to_ycbcr(filtered) - ref) ** 2, axis=0)
    return 10.0 * np.log10(np.maximum(before, 1e-9) / np.maximum(after, 1e-9))


def _gain_dict(gain: np.ndarray) -> dict[str, float]:
    y, u, v = (float(g) for g in gain)
    return {"y": y, "u": u, "v": v, "yuv": float(YUV_WEIGHTS @ gain)}


def adapt(
    postfilter: PostFilter,
    xyz: np.ndarray,
    original: np.ndarray,
    decoded: np.ndarray,
    step: np.ndarray,
    attribute_bits: int,
    device: str = "cpu",
    kinds: tuple[str, ...] = ("shipped", "scalars", "head"),
    progress: bool = False,
) -> Adaptation:
    """Choose how the decoder filters this cloud.

    Args:
        postfilter: the shipped filter.
        xyz: ``[N, 3]`` int coordinates; original, decoded: ``[N, 3]`` uint8 RGB in the same
            order; step: ``[N]`` float32 quantization steps (colour levels).
        attribute_bits: bits of the coded colours without the update (R of the score).
        device: torch device of the network pass.
        kinds: the kinds to weigh besides ``none``.
        progress: tqdm bar of the network pass (stderr).

    Returns:
        The best-scoring :class:`Adaptation`.
    """
    started = time.perf_counter()
    step = np.asarray(step, dtype=np.float32)
    ycc = rgb_to_ycbcr(decoded)
    target = rgb_to_ycbcr(original) - ycc
    features = postfilter.features(xyz, ycc, step, device=device, progress=progress)
    rate = max(int(attribute_bits), 1)
    best = ("none", b"", _gain_dict(np.zeros(3)), 0.0)
    candidates: dict[str, dict] = {}

    def consider(kind: str, payload: bytes, update: FilterUpdate) -> None:
        nonlocal best
        strength = update.strengths(postfilter.gating(step))
        out = ycbcr_to_rgb(ycc + strength * postfilter.head_residual(features, step, update))
        gain = _gain_dict(psnr_gain(original, decoded, out))
        bits = 8 * len(payload)
        score = gain["yuv"] / DB_PER_LOG_RATE - math.log1p(bits / rate)
        if kind not in candidates or score > candidates[kind]["score"]:
            candidates[kind] = {"bits": bits, "gain_db": gain, "score": score}
        if score > best[3] and gain["yuv"] > 0:
            best = (kind, payload, gain, score)

    reference = postfilter.reference
    if "shipped" in kinds:
        consider("shipped", b"", FilterUpdate())
    if "scalars" in kinds:
        shipped = postfilter.head_residual(features, step)
        power = (shipped.astype(np.float64) ** 2).sum(axis=0)
        cross = (shipped * target).sum(axis=0)
        alpha = np.divide(cross, power, out=np.zeros(3), where=power > 0)
        consider("scalars", *write_filter_update(FilterUpdate(strength=tuple(alpha)), reference))
    if "head" in kinds:
        for weight, bias, head_step in _head_candidates(postfilter, features, step, target):
            payload, update = write_filter_update(
                FilterUpdate(head=(weight, bias)), reference, head_step
            )
            consider("head", payload, update)
    kind, payload, gain, _ = best
    return Adaptation(
        kind=kind,
        payload=payload,
        gain_db=gain,
        candidates=candidates,
        seconds=time.perf_counter() - started,
    )


def adapt_stream(
    decoded, original: np.ndarray, device: str = "cpu", progress: bool = False
) -> Adaptation | None:
    """Encoder hook (``nmc.pointcloud.postfilter.ADAPTERS``): :func:`adapt` with the shipped
    filter on a :class:`~nmc.pointcloud.DecodedCloud`; None when no weights are shipped.

    Args:
        decoded: the cloud as the decoder rebuilds it; original: ``[N, 3]`` uint8 source
            colours in its order; device: torch device; progress: tqdm bar (stderr).
    """
    postfilter = load_default()
    if postfilter is None:
        return None
    return adapt(
        postfilter,
        decoded.xyz,
        original,
        decoded.rgb,
        decoded.step,
        decoded.attribute_bits,
        device=device,
        progress=progress,
    )


def _head_candidates(
    postfilter: PostFilter, features: np.ndarray, step: np.ndarray, target: np.ndarray
) -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """Quantized heads ``(weight [3, C], bias [3], step)`` to weigh, one per ridge and step.

    The residual of channel c is ``amp_c (h . w_c + b_c)``; with the per-point amplitude
    folded into the design matrix X each channel is a ridge least-squares solve of size
    C + 1, pulled toward the shipped head. Its change from the shipped head is then rounded
    to multiples of ``step`` one coefficient at a time, each rounding error compensated on
    the coefficients not yet rounded through ``(X^T X)^-1`` (optimal brain quantization, as
    GPTQ does for a layer's weights): correlated features make plain rounding lose most of
    the gain at the coarse steps a small update needs.
    """
    model = postfilter.model
    with torch.no_grad():
        amp = model.amplitude(torch.from_numpy(step)).double().numpy()
        shipped = torch.cat([model.head.weight, model.head.bias[:, None]], dim=1).double()
    shipped = shipped.numpy()
    grams, rhs = _normal_equations(features, amp, target)
    out = []
    for ridge in _RIDGE:
        solves = []
        for c in range(3):
            damped = grams[c] + ridge * float(np.mean(np.diag(grams[c]))) * np.eye(len(rhs[c]))
            theta = np.linalg.solve(damped, rhs[c] + (damped - grams[c]) @ shipped[c])
            solves.append((theta - shipped[c], _inverse_cholesky(damped)))
        for head_step in _HEAD_STEPS:
            delta = np.stack([_round_compensated(d, u, head_step) for d, u in solves])
            theta = torch.from_numpy(shipped + delta).float()
            out.append((theta[:, :-1].contiguous(), theta[:, -1].contiguous(), head_step))
    return out


def _normal_equations(
    features: np.ndarray, amp: np.ndarray, target: np.ndarray, rows: int = 1 << 16
) -> tuple[np.ndarray, np.ndarray]:
    """Per channel c, ``X_c^T X_c`` ``[3, C+1, C+1]`` and ``X_c^T t_c`` ``[3, C+1]`` (float64)
    with ``X_c = [features, 1] * amp_c``, summed over row chunks (memory of one chunk)."""
    dim = features.shape[1] + 1
    grams, rhs = np.zeros((3, dim, dim)), np.zeros((3, dim))
    for start in range(0, features.shape[0], rows):
        part = slice(start, start + rows)
        design = np.empty((features[part].shape[0], dim))
        design[:, :-1], design[:, -1] = features[part], 1.0
        for c in range(3):
            x = design * amp[part, c : c + 1]
            grams[c] += x.T @ x
            rhs[c] += x.T @ target[part, c]
    return grams, rhs


def _inverse_cholesky(gram: np.ndarray) -> np.ndarray:
    """Upper Cholesky factor ``U`` of ``gram^-1`` (``U^T U = gram^-1``)."""
    return np.linalg.cholesky(np.linalg.inv(gram)).T


def _round_compensated(delta: np.ndarray, upper: np.ndarray, step: float) -> np.ndarray:
    """``delta`` rounded to multiples of ``step`` in order, each error spread over the rest."""
    delta = delta.copy()
    for j in range(delta.size):
        rounded = np.round(delta[j] / step) * step
        error = (delta[j] - rounded) / upper[j, j]
        delta[j] = rounded
        delta[j + 1 :] -= error * upper[j, j + 1 :]
    return delta
