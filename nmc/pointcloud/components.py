"""Inter-component prediction of chroma coefficients from the decoded luma (and Cb) ones.

After the spatial prediction of :mod:`nmc.pointcloud.prediction`, the residual high-pass
coefficients of the three channels of one RAHT coefficient are still correlated: a luma edge
left unpredicted comes with a chroma edge of a given sign and size (on the OSD scans Cr's
residual against luma's has a least-squares slope of -0.2 to -0.45, Cb's -0.3 to +0.5
depending on the scene). Each coefficient's Cb is therefore predicted from its decoded luma,
and its Cr from its decoded luma and Cb, with three per-stream slopes:

    Cb_hat = a_cb * Y',   Cr_hat = a_cr * Y' + b * Cb'

where ``'`` marks decoded values in 8-bit colour units. Only the difference from the
prediction is quantized with the chroma step. The slopes are fitted by the encoder (least
squares on a first coding pass) and sent as integers in 1/:data:`SCALE` units; the decoder
applies them to decoded integers, so its reconstruction equals the encoder's. With all slopes
0 the codec is the plain one of stream versions 1 and 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmc.errors import BitstreamError

SCALE = 32
# Slopes are clamped to +-LIMIT / SCALE = +-2 (fitted ones stay well inside).
LIMIT = 64


@dataclass(frozen=True)
class ComponentPrediction:
    """Per-stream inter-component slopes, integers in 1/:data:`SCALE` units.

    Attributes:
        y_to_cb: slope of Cb on luma.
        y_to_cr: slope of Cr on luma.
        cb_to_cr: slope of Cr on Cb.
    """

    y_to_cb: int = 0
    y_to_cr: int = 0
    cb_to_cr: int = 0

    def __post_init__(self) -> None:
        for name in ("y_to_cb", "y_to_cr", "cb_to_cr"):
            value = getattr(self, name)
            if not -LIMIT <= value <= LIMIT:
                raise BitstreamError(
                    f"attribute chunk: inter-component slope {value}/{SCALE} outside "
                    f"+-{LIMIT}/{SCALE} (damaged)"
                )

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.y_to_cb, self.y_to_cr, self.cb_to_cr)

    def matrix(self, step: np.ndarray) -> np.ndarray:
        """float64 ``[3, 3]`` strictly lower-triangular ``M``, in quantization steps.

        A coefficient's decoded values in steps are ``v_c = q_c + sum_{k<c} M[c, k] v_k``
        (``step``: float64 ``[3]`` steps of Y, Cb, Cr).
        """
        out = np.zeros((3, 3))
        out[1, 0] = self.y_to_cb / SCALE * step[0] / step[1]
        out[2, 0] = self.y_to_cr / SCALE * step[0] / step[2]
        out[2, 1] = self.cb_to_cr / SCALE * step[1] / step[2]
        return out

    @classmethod
    def fit(cls, decoded: np.ndarray, residual: np.ndarray) -> ComponentPrediction:
        """Least-squares slopes from a coding pass without inter-component prediction.

        Args:
            decoded: float64 ``[K, 3]`` decoded residual coefficients of that pass (colour
                units).
            residual: float64 ``[K, 3]`` the residuals they code (colour units).
        """
        y, cb = decoded[:, 0], decoded[:, 1]
        y_to_cb = _slope(y[:, None], residual[:, 1])[0]
        y_to_cr, cb_to_cr = _slope(np.stack([y, cb], axis=1), residual[:, 2])
        return cls(*(int(np.clip(np.round(v * SCALE), -LIMIT, LIMIT)) for v in
                     (y_to_cb, y_to_cr, cb_to_cr)))  # fmt: skip


def _slope(x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of ``target`` (float64 [K]) on the columns of ``x`` [K, m]."""
    gram = x.T @ x
    if np.linalg.matrix_rank(gram) < x.shape[1]:
        return np.zeros(x.shape[1])
    return np.linalg.solve(gram, x.T @ target)


def values(q: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """float64 ``[K, 3]`` decoded values in steps of int ``q`` ``[K, 3]`` (see ``matrix``)."""
    out = q.astype(np.float64)
    for channel in (1, 2):
        out[:, channel] += out[:, :channel] @ matrix[channel, :channel]
    return out
