"""G-PCC's attribute quantization parameter (QP) -> quantization step rule.

``step = kQpStep[qp % 6] << (qp // 6)`` in 1/256 units with ``kQpStep = {161, 181, 203, 228,
256, 287}``, i.e. ``step ~ 2 ** ((qp - 4) / 6)`` (QP 4 -> step 1), in 8-bit attribute units.
"""

from __future__ import annotations

import numpy as np

from nmc.errors import InputError

QP_STEP_TABLE = (161, 181, 203, 228, 256, 287)
MIN_QP = 4
MAX_QP = 63
CTC_QPS = (51, 46, 40, 34, 28, 22)


def check_qp(qp: object, name: str = "qp") -> int:
    """``qp`` as an int in [4, 63]; :class:`InputError` otherwise."""
    if isinstance(qp, bool) or not isinstance(qp, (int, np.integer)):
        raise InputError(f"{name} must be an integer in [{MIN_QP}, {MAX_QP}], got {qp!r}")
    if not MIN_QP <= int(qp) <= MAX_QP:
        raise InputError(
            f"{name} must be in [{MIN_QP}, {MAX_QP}] (G-PCC CTC uses 22..51), got {qp}"
        )
    return int(qp)


def qp_step(qp: int) -> float:
    """Quantization step of ``qp`` (>= 4) in 8-bit attribute units, e.g. 1.0 at QP 4."""
    qp = check_qp(qp)
    return float(QP_STEP_TABLE[qp % 6] << (qp // 6)) / 256.0
