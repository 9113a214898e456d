"""Initial statistics of the attribute coder's context models (stream version 3 on).

A cloud coded at a low QP has only a few hundred to a few thousand significant
coefficients: starting every context from flat statistics spends a large share of its bits
on learning them. Like CABAC's initial states, version 3 streams start each context model of
:mod:`nmc.pointcloud.coefficients` from counts learnt offline on the OSD training scans at
the CTC QPs (``tools/train_context_priors.py``; the scans benchmarked against TMC13 and the
held-out ones are not used), each context's total capped at :data:`PRIOR_OBSERVATIONS`
observations so that a cloud's own statistics take over quickly. A stream uses the table of
the CTC QP nearest its luma QP. The tables are integers, so encoder and decoder start alike.
"""

from __future__ import annotations

import base64
import zlib
from functools import lru_cache

import numpy as np

from nmc.entropy.adaptive import INCREMENT, ContextModel, ContextState, seeded_state
from nmc.pointcloud.coefficients import ABOVE_ONE, PREFIX, SIGN, SIGNIFICANT, SUFFIX
from nmc.pointcloud.priors_data import TABLE

PRIOR_QPS = (22, 28, 34, 40, 46, 51)
MODELS = (SIGNIFICANT, ABOVE_ONE, PREFIX, SUFFIX, SIGN)
PRIOR_OBSERVATIONS = 32
_ROWS = sum(model.num_contexts for model in MODELS)


def table_qp(qp: int) -> int:
    """The CTC QP whose table a stream of luma QP ``qp`` starts from (the nearest)."""
    return min(PRIOR_QPS, key=lambda q: (abs(q - qp), q))


def initial_state(qp: int) -> ContextState:
    """Fresh context statistics for the attribute payload of a stream of luma QP ``qp``."""
    counts = _tables()[PRIOR_QPS.index(table_qp(qp))]
    seeds: dict[ContextModel, np.ndarray] = {}
    start = 0
    for model in MODELS:
        seeds[model] = counts[start : start + model.num_contexts]
        start += model.num_contexts
    return seeded_state(seeds)


def cap_counts(counts: np.ndarray) -> np.ndarray:
    """int64 ``[..., 2]`` counts scaled down so no context totals more than
    :data:`PRIOR_OBSERVATIONS` observations (rounded; smaller totals kept)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=-1, keepdims=True)
    limit = PRIOR_OBSERVATIONS * INCREMENT
    scale = np.where(total > limit, limit / np.maximum(total, 1.0), 1.0)
    return np.round(counts * scale).astype(np.int64)


def encode_table(counts: np.ndarray) -> str:
    """The :data:`~nmc.pointcloud.priors_data.TABLE` text of int ``[len(PRIOR_QPS), rows, 2]``
    capped counts (zlib-compressed little-endian uint16, base64)."""
    shape = (len(PRIOR_QPS), _ROWS, 2)
    if counts.shape != shape:
        raise ValueError(f"expected counts of shape {shape}, got {counts.shape}")
    raw = np.asarray(counts, dtype="<u2").tobytes()
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


@lru_cache(maxsize=1)
def _tables() -> np.ndarray:
    """int64 ``[len(PRIOR_QPS), rows, 2]`` counts decoded from the shipped table."""
    raw = zlib.decompress(base64.b64decode(TABLE))
    return np.frombuffer(raw, dtype="<u2").astype(np.int64).reshape(len(PRIOR_QPS), _ROWS, 2)
