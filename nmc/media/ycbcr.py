"""RGB <-> YCbCr, ITU-R BT.709, full range, chroma centred on 128 (G-PCC's colour transform).

The point-cloud attribute codec and MS-GAT work in this space, and the evaluation harness
measures attribute PSNRs in it (MPEG ``pc_error``'s convention, DESIGN.md § 5):
``Cb = (B - Y) / (2 (1 - Kb)) + 128``, ``Cr = (R - Y) / (2 (1 - Kr)) + 128``.
"""

from __future__ import annotations

import numpy as np

KR, KB = 0.2126, 0.0722
KG = 1.0 - KR - KB
# Rows give Y, Cb, Cr (before the +128 chroma offset) from R, G, B.
RGB_TO_YCBCR = np.array(
    [
        [KR, KG, KB],
        [-KR / (2.0 * (1.0 - KB)), -KG / (2.0 * (1.0 - KB)), 0.5],
        [0.5, -KG / (2.0 * (1.0 - KR)), -KB / (2.0 * (1.0 - KR))],
    ]
)
YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR)
CHROMA_OFFSET = np.array([0.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """float64 ``[N, 3]`` Y, Cb, Cr in [0, 255] of colours ``rgb`` (``[N, 3]``, 0..255)."""
    return np.asarray(rgb, dtype=np.float64) @ RGB_TO_YCBCR.T + CHROMA_OFFSET


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 3]`` R, G, B of float ``ycbcr`` ([N, 3]), rounded and clipped to 0..255."""
    rgb = (np.asarray(ycbcr, dtype=np.float64) - CHROMA_OFFSET) @ YCBCR_TO_RGB.T
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
