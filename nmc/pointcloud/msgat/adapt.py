"""Encoder side of content-adaptive filtering: tune the shipped MS-GAT to the cloud it codes.

The encoder runs the shipped network once over the decoded cloud (the features of
:meth:`PostFilter.features`), then weighs ways of filtering it, each measured exactly as the
decoder will output it (uint8 RGB) against the original colours:

- ``none``: no filter (the header says so; 0 bits) — the encoder's never-worse guarantee;
- ``shipped``: the shipped head and per-step gating (0 bits beyond the update's length);
- ``scalars``: least-squares per-channel strengths of the shipped residual (32 bits);
- ``channels``: per channel (Y, Cb, Cr) the best of off, the shipped gating, a strength, or a
  new head row (least squares on the features, pulled toward the shipped row or toward 0,
  its change rounded at one of 11 steps and Exp-Golomb coded), chosen by its share of the
  score, then the best few combinations measured exactly;
- ``network`` (version 5): a step of the network's own weights, fine-tuned on this cloud
  with a rate term (:mod:`nmc.pointcloud.msgat.finetune`), with the best of the kinds above
  measured on the stepped network's features, its bits included.

Score of a choice: its PSNR-YUV gain in dB divided by the codec's rate-distortion slope
(:data:`DB_PER_LOG_RATE`, dB per unit of natural-log rate), minus ``ln(1 + bits / R)`` with R
the cloud's attribute bits: the log-rate the same PSNR would cost the codec against the
log-rate the update adds. The best score wins; nothing scores above 0 means ``none``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from nmc.pointcloud.msgat.calibrate import DB_PER_LOG_RATE, YUV_WEIGHTS
from nmc.pointcloud.msgat.filter import PostFilter, canonical_order, load_default
from nmc.pointcloud.msgat.finetune import FinetuneConfig, finetune_steps
from nmc.pointcloud.msgat.golomb import exp_golomb_bits
from nmc.pointcloud.msgat.stepping import rebuild_weights
from nmc.pointcloud.msgat.update import (
    INNER_KINDS,
    STRENGTH_UNIT,
    ChannelUpdate,
    FilterUpdate,
    write_filter_update,
)

# Ridge weights (relative to the mean diagonal of X^T X) of the head rows tried, and whether
# each pulls toward the shipped row (True) or toward 0 (False; for a shipped row that hurts).
_RIDGES = ((1e-3, True), (1e-1, True), (1e-2, False))
# Head steps tried, 2^-e.
_HEAD_EXPONENTS = tuple(range(0, 11))
# Per channel, the options of best share of the score whose combinations are measured.
_SHORTLIST = 2
_YUV = np.asarray(YUV_WEIGHTS, dtype=np.float64)
# Clouds of fewer attribute bits are not worth fine-tuning the network for: a step's flags
# alone cost 64 bits, and its gains (a few hundredths of a dB on the validation scans) paid
# only at QP 28 and above; this skips QP 51 and 46 of the clouds measured (≈ 2-5 kbit).
MIN_NETWORK_RATE = 6000
KINDS = (*INNER_KINDS, "network")


@dataclass(frozen=True)
class Adaptation:
    """The encoder's choice for one cloud.

    Attributes:
        kind: ``"none"``, ``"shipped"``, ``"scalars"``, ``"channels"`` or ``"network"``.
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
    kinds: tuple[str, ...] = KINDS,
    progress: bool = False,
    finetune: FinetuneConfig | None = None,
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
        finetune: how the ``network`` kind fine-tunes the network (default options).

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
    reference = postfilter.reference

    def consider(kind: str, update: FilterUpdate, filt: PostFilter, feats: np.ndarray) -> None:
        nonlocal best
        payload, update = write_filter_update(update, reference)
        strength = update.strengths(filt.gating(step))
        out = ycbcr_to_rgb(ycc + strength * filt.head_residual(feats, step, update))
        gain = _gain_dict(psnr_gain(original, decoded, out))
        bits = 8 * len(payload)
        score = gain["yuv"] / DB_PER_LOG_RATE - math.log1p(bits / rate)
        if kind not in candidates or score > candidates[kind]["score"]:
            candidates[kind] = {"bits": bits, "gain_db": gain, "score": score}
        if score > best[3] and gain["yuv"] > 0:
            best = (kind, payload, gain, score)

    for kind, update in _head_updates(postfilter, features, step, target, rate, kinds):
        consider(kind, update, postfilter, features)
    if "network" in kinds and rate >= MIN_NETWORK_RATE:
        order = canonical_order(xyz)
        steps = finetune_steps(
            postfilter.model,
            xyz[order],
            original[order],
            decoded[order],
            step[order],
            rate,
            postfilter.patches,
            finetune,
        )
        for network in steps:
            if all(q is None for q in network.levels):
                continue  # the shipped network
            stepped = postfilter.stepped(rebuild_weights(network, reference))
            feats = stepped.features(xyz, ycc, step, device=device, progress=progress)
            for _, update in _head_updates(stepped, feats, step, target, rate, INNER_KINDS):
                consider("network", replace(update, network=network), stepped, feats)
    kind, payload, gain, _ = best
    return Adaptation(
        kind=kind,
        payload=payload,
        gain_db=gain,
        candidates=candidates,
        seconds=time.perf_counter() - started,
    )


def _head_updates(
    postfilter: PostFilter,
    features: np.ndarray,
    step: np.ndarray,
    target: np.ndarray,
    rate: int,
    kinds: tuple[str, ...],
) -> Iterator[tuple[str, FilterUpdate]]:
    """The updates of the head and strengths worth measuring on ``features``."""
    if "shipped" in kinds:
        yield "shipped", FilterUpdate()
    if "scalars" in kinds:
        shipped = postfilter.head_residual(features, step)
        power = (shipped.astype(np.float64) ** 2).sum(axis=0)
        cross = (shipped * target).sum(axis=0)
        alpha = np.divide(cross, power, out=np.zeros(3), where=power > 0)
        yield "scalars", FilterUpdate(strength=tuple(alpha))
    if "channels" in kinds:
        for channels in _channel_candidates(postfilter, features, step, target, rate):
            yield "channels", FilterUpdate(channels=channels)


def adapt_stream(
    decoded,
    original: np.ndarray,
    device: str = "cpu",
    progress: bool = False,
    network: bool = True,
) -> Adaptation | None:
    """Encoder hook (``nmc.pointcloud.postfilter.ADAPTERS``): :func:`adapt` with the shipped
    filter on a :class:`~nmc.pointcloud.DecodedCloud`; None when no weights are shipped.

    Args:
        decoded: the cloud as the decoder rebuilds it; original: ``[N, 3]`` uint8 source
            colours in its order; device: torch device; progress: tqdm bar (stderr);
        network: also weigh a fine-tuned step of the network (kind ``network``).
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
        kinds=KINDS if network else INNER_KINDS,
    )


def _channel_candidates(
    postfilter: PostFilter,
    features: np.ndarray,
    step: np.ndarray,
    target: np.ndarray,
    rate: int,
) -> list[tuple[ChannelUpdate, ChannelUpdate, ChannelUpdate]]:
    """Per-channel updates worth measuring exactly, best estimated score first.

    Each channel's options (off, the shipped gating, the least-squares strength, head rows)
    get the share of the score they would add on their own: ``w_c g_c / slope - bits / R``,
    ``g_c`` the channel's PSNR gain on the float residual (before uint8 rounding) and ``w_c``
    its PSNR-YUV weight. The :data:`_SHORTLIST` best options of each channel are combined.

    A head row of channel c gives the residual ``amp_c (h . w_c + b_c)``; with the per-point
    amplitude folded into the design matrix X it is a ridge least-squares solve of size
    C + 1. Its change from the shipped row is rounded to multiples of the step one
    coefficient at a time, each rounding error compensated on the coefficients not yet
    rounded through ``(X^T X)^-1`` (optimal brain quantization, as GPTQ does for a layer's
    weights): correlated features make plain rounding lose most of the gain at the coarse
    steps a small update needs.
    """
    model = postfilter.model
    with torch.no_grad():
        amp = model.amplitude(torch.from_numpy(step)).double().numpy()
        shipped = torch.cat([model.head.weight, model.head.bias[:, None]], dim=1).double()
    shipped = shipped.numpy()
    residual = postfilter.head_residual(features, step).astype(np.float64)
    gated = postfilter.gating(step)
    grams, rhs = _normal_equations(features, amp, target)
    shortlists = []
    for c in range(3):
        error = target[:, c]

        def share(r: np.ndarray | float, bits: int, c: int = c, error: np.ndarray = error) -> float:
            return _YUV[c] * _channel_gain_db(error, r) / DB_PER_LOG_RATE - bits / rate

        shipped_c = residual[:, c]
        power = float(shipped_c @ shipped_c)
        alpha = float(shipped_c @ error) / power if power > 0 else 0.0
        level = int(np.clip(round(alpha * STRENGTH_UNIT), 0, 2 * STRENGTH_UNIT))
        options = [
            (share(0.0, 0), ChannelUpdate("off")),
            (share(gated[:, c] * shipped_c, 0), ChannelUpdate("gated")),
            (share(level / STRENGTH_UNIT * shipped_c, 8), ChannelUpdate("strength", level)),
        ]
        damping = float(np.mean(np.diag(grams[c])))
        for ridge, toward_shipped in _RIDGES:
            damped = grams[c] + ridge * damping * np.eye(len(rhs[c]))
            prior = shipped[c] if toward_shipped else np.zeros_like(shipped[c])
            theta = np.linalg.solve(damped, rhs[c] + ridge * damping * prior)
            upper = _inverse_cholesky(damped)
            for exponent in _HEAD_EXPONENTS:
                head_step = 2.0**-exponent
                delta = _round_compensated(theta - shipped[c], upper, head_step)
                levels = np.round(delta / head_step).astype(np.int64)
                row = shipped[c] + levels * head_step
                r = (features @ row[:-1] + row[-1]) * amp[:, c]
                bits = 8 + exp_golomb_bits(levels)
                channel = ChannelUpdate("head", exponent=exponent, levels=tuple(levels.tolist()))
                options.append((share(r, bits), channel))
        options.sort(key=lambda o: -o[0])
        shortlists.append(options[:_SHORTLIST])
    combos = [
        (a[0] + b[0] + c[0], (a[1], b[1], c[1]))
        for a in shortlists[0]
        for b in shortlists[1]
        for c in shortlists[2]
    ]
    combos.sort(key=lambda o: -o[0])
    return [channels for _, channels in combos]


def _channel_gain_db(error: np.ndarray, residual: np.ndarray | float) -> float:
    """PSNR gain (dB) of removing ``residual`` from a channel's ``error`` ``[N]`` (floats)."""
    before = max(float(np.mean(error**2)), 1e-12)
    return 10.0 * math.log10(before / max(float(np.mean((error - residual) ** 2)), 1e-12))


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
