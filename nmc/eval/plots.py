"""Rate-distortion plots (PNG and SVG) drawn with matplotlib's Agg canvas.

No pyplot: figures are built on :class:`matplotlib.figure.Figure` directly, so plotting neither
needs a display nor changes matplotlib's global backend for the caller.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nmc.bitstream import atomic_write_bytes
from nmc.eval.results import curve, group

_LABELS = {
    "bpp": "rate (bits per pixel)",
    "psnr_yuv": "PSNR-YUV 6:1:1 (dB)",
    "psnr_y": "PSNR-Y (dB)",
    "psnr_u": "PSNR-U (dB)",
    "psnr_v": "PSNR-V (dB)",
    "ms_ssim_y": "MS-SSIM (Y)",
}


def rd_figure(
    records: Sequence[dict[str, Any]], metric: str, kind: str = "video", codecs: Sequence[str] = ()
) -> Figure:
    """One panel per dataset, one line per codec: ``metric`` against rate (log axis).

    Args:
        records: RD points carrying ``dataset``, ``codec``, ``bpp`` and ``metric``.
        kind: ``"pointcloud"`` labels the rate axis as attribute bits per point.
        codecs: codec order for the legend (others follow in first-seen order).
    """
    groups = group(records)
    names = list(dict.fromkeys(d for d, _ in groups))
    order = list(codecs) + [c for _, c in groups if c not in codecs]
    order = list(dict.fromkeys(order))
    columns = min(3, max(1, len(names)))
    rows = math.ceil(len(names) / columns) if names else 1
    figure = Figure(figsize=(5.0 * columns, 3.8 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    rate_label = "attribute bits per point" if kind == "pointcloud" else _LABELS["bpp"]
    for index, dataset in enumerate(names or [""]):
        axes = figure.add_subplot(rows, columns, index + 1)
        for codec in order:
            points = groups.get((dataset, codec))
            if not points:
                continue
            rates, values = curve(points, metric)
            axes.plot(rates, values, marker="o", markersize=3.5, linewidth=1.4, label=codec)
        axes.set_xscale("log")
        axes.set_title(dataset)
        axes.set_xlabel(rate_label)
        axes.set_ylabel(_LABELS.get(metric, metric))
        axes.grid(True, which="both", linewidth=0.4, alpha=0.6)
        if axes.lines:
            axes.legend(fontsize=8)
    return figure


def save_figure(figure: Figure, base: str | Path) -> list[Path]:
    """Write ``base.png`` (150 dpi) and ``base.svg`` atomically; returns both paths."""
    paths = []
    for suffix, options in ((".png", {"dpi": 150}), (".svg", {})):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix[1:], **options)
        target = Path(base).with_suffix(suffix)
        atomic_write_bytes(target, buffer.getvalue())
        paths.append(target)
    return paths
