"""``target_bpp``: the best quality level whose file meets a rate.

Rate grows with the quality level (1..8), so a binary search needs at most three encodes of
the clip (four when none fits); the chosen encode is returned as is (no extra final encode).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nmc.errors import InputError
from nmc.video.config import QUALITIES

Encoded = tuple[bytes, dict[str, Any]]


def search_quality(target_bpp: float, encode_at: Callable[[int], Encoded]) -> Encoded:
    """Encode at the highest quality whose ``bpp`` is at most ``target_bpp``.

    Args:
        target_bpp: rate limit, bits per pixel (all bits of the file / (W·H·frames)).
        encode_at: quality -> (file bytes, report with a ``"bpp"`` entry).

    Returns:
        The chosen encode; its report gains ``target_bpp``, ``probes`` (quality -> bpp) and,
        when even quality 1 is above the target, ``target_met = False`` (quality 1 is returned).
    """
    if not (isinstance(target_bpp, (int, float)) and target_bpp > 0):
        raise InputError(f"target_bpp must be a positive number, got {target_bpp!r}")
    low, high = QUALITIES.start, QUALITIES.stop - 1
    results: dict[int, Encoded] = {}
    best = None
    while low <= high:
        quality = (low + high + 1) // 2
        results[quality] = encode_at(quality)
        if results[quality][1]["bpp"] <= target_bpp:
            best, low = quality, quality + 1
        else:
            high = quality - 1
    # When every probe is over the target the search ends having tried quality 1.
    data, report = results[best if best is not None else QUALITIES.start]
    probes = {q: r[1]["bpp"] for q, r in sorted(results.items())}
    return data, {
        **report,
        "target_bpp": target_bpp,
        "target_met": best is not None,
        "probes": probes,
    }
