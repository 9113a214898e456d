"""Calibrate the per-step gating on validation scans and measure the filter's PSNR gain."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from nmc.pointcloud.msgat.data import Triple
from nmc.pointcloud.msgat.filter import PostFilter
from nmc.pointcloud.msgat.gating import StepGating, fit_strength

# PSNR-YUV weighting of the point-cloud CTC reports (6 Y + U + V) / 8.
YUV_WEIGHTS = np.array([6.0, 1.0, 1.0]) / 8.0
# Local slope of the codec's PSNR-YUV against ln(attribute bits), measured on the G-PCC
# anchors of ../shared/data/anchors (2.2 .. 4.7 dB between CTC QPs, lower at low rates): the
# unit of the encoder's score (adapt) and of its fine-tuning loss (finetune). This codec's
# own slope per QP (2.6 at QP 51 ... 4.5 at 22 on the training scans) chose the same updates
# on the validation scans (BD-rate within 0.01 %), so one constant serves.
DB_PER_LOG_RATE = 3.0


def channel_psnr(reference: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Per-channel PSNR ``[3]`` (dB, peak 255) between two ``[N, 3]`` colour arrays.

    Both are converted to YCbCr BT.709 first when they are uint8 RGB; float input is taken
    as YCbCr already. Identical channels give 100 dB rather than infinity.
    """
    ref = rgb_to_ycbcr(reference) if reference.dtype == np.uint8 else reference
    tst = rgb_to_ycbcr(test) if test.dtype == np.uint8 else test
    mse = np.mean((ref.astype(np.float64) - tst.astype(np.float64)) ** 2, axis=0)
    return np.where(mse > 0, 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-12)), 100.0)


def calibrate(
    postfilter: PostFilter,
    triples: Sequence[Triple],
    device: str = "cpu",
    progress: bool = False,
) -> tuple[StepGating, dict]:
    """Choose the strength per QP and channel so that the filter never hurts on average.

    For every QP the least-squares strength (in [0, 1]) of each channel is fitted on all
    validation scans together; a channel whose mean PSNR gain over the scans is not
    positive with that strength is switched off, and so is the whole QP when the
    PSNR-YUV gain is not positive. (A switched-off channel can still move by a few
    hundredths of a dB through the rounding of the other channels' changes to RGB.)

    Args:
        postfilter: the filter to calibrate (its own gating is ignored).
        triples: validation scans coded at the QPs to calibrate.
        device: torch device.
        progress: tqdm bars.

    Returns:
        ``(gating, report)``: report maps each QP to its step, strengths and mean per-scan
        gains ``{"y", "u", "v", "yuv"}`` in dB after gating.
    """
    by_qp: dict[int, list[tuple[Triple, np.ndarray]]] = defaultdict(list)
    for triple in triples:
        ycc = rgb_to_ycbcr(triple.decoded)
        residual = postfilter.residual(triple.xyz, ycc, triple.step, device, progress)
        by_qp[triple.qp].append((triple, residual))
    rows = []
    report: dict = {}
    for qp, items in sorted(by_qp.items()):
        residual = np.concatenate([r for _, r in items])
        error = np.concatenate(
            [rgb_to_ycbcr(t.original) - rgb_to_ycbcr(t.decoded) for t, _ in items]
        )
        strength = np.array(fit_strength(residual, error))
        gains = _mean_gain(items, strength)
        # Channels interact through the rounding to RGB, so re-measure after each cut.
        while np.any(bad := (gains <= 0) & (strength > 0)):
            strength[bad] = 0.0
            gains = _mean_gain(items, strength) if strength.any() else np.zeros(3)
        # A channel switched off still moves a little when the others change the rounding
        # to RGB; the weighted total must stay positive or the filter goes off entirely.
        if YUV_WEIGHTS @ gains <= 0:
            strength[:], gains = 0.0, np.zeros(3)
        step = float(np.median(np.concatenate([t.step for t, _ in items])))
        rows.append((step, tuple(float(v) for v in strength)))
        report[str(qp)] = {
            "step": step,
            "strength": [float(v) for v in strength],
            "gain_db": _gain_dict(gains),
            "scans": len(items),
        }
    rows.sort()
    steps = [s for s, _ in rows]
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError(f"validation QPs share a step ({steps}); calibrate one QP per step")
    gating = StepGating(tuple(steps), tuple(r for _, r in rows))
    return gating, report


def _mean_gain(items: list[tuple[Triple, np.ndarray]], strength: np.ndarray) -> np.ndarray:
    """Mean over scans of the per-channel PSNR gain (dB) of the gated, rounded output."""
    gains = []
    for triple, residual in items:
        ycc = rgb_to_ycbcr(triple.decoded) + strength[None, :] * residual
        out = ycbcr_to_rgb(ycc)
        gains.append(
            channel_psnr(triple.original, out) - channel_psnr(triple.original, triple.decoded)
        )
    return np.mean(gains, axis=0)


def _gain_dict(gains: np.ndarray) -> dict[str, float]:
    y, u, v = (float(g) for g in gains)
    return {"y": y, "u": u, "v": v, "yuv": float(YUV_WEIGHTS @ gains)}
