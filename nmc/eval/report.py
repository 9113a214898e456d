"""BD-rate tables (Markdown and CSV) and the campaign's one-page report.

Every codec is compared with the recipe's reference codec on each dataset; a comparison that
cannot be made (too few points, non-monotone curve, no overlap) is reported with its reason
instead of a number. The ``mean`` row averages the datasets where a value exists.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmc.bitstream import atomic_write_bytes
from nmc.errors import InputError
from nmc.eval.anchors import resolve_anchor
from nmc.eval.bdrate import bd_psnr, bd_rate
from nmc.eval.plots import rd_figure, save_figure
from nmc.eval.recipe import CodecConfig, Recipe
from nmc.eval.results import curve, group
from nmc.eval.tmc3 import C1_RAHT_OPTIONS

MEAN = "mean"


@dataclass(frozen=True)
class BdRow:
    """One BD comparison of ``codec`` against the reference on ``dataset`` (or the mean).

    Attributes:
        bd_rate: percent (negative = fewer bits than the reference), ``nan`` if not computable.
        bd_psnr: dB (or the metric's unit) at equal rate, ``nan`` if not computable.
        note: why a value is missing, or how many datasets a mean covers.
    """

    dataset: str
    codec: str
    bd_rate: float
    bd_psnr: float
    note: str = ""


def _compare(
    dataset: str,
    codec: str,
    anchor: Sequence[dict[str, Any]],
    test: Sequence[dict[str, Any]],
    metric: str,
    method: str,
) -> BdRow:
    """One row; BD-rate and BD-metric fail independently (they need different overlaps)."""
    try:
        curves = (*curve(anchor, metric), *curve(test, metric))
    except InputError as exc:
        return BdRow(dataset, codec, math.nan, math.nan, str(exc))
    values, notes = [], []
    for function in (bd_rate, bd_psnr):
        try:
            values.append(function(*curves, method=method))
        except InputError as exc:
            values.append(math.nan)
            notes.append(f"{function.__name__}: {exc}")
    return BdRow(dataset, codec, values[0], values[1], "; ".join(notes))


def bd_rows(
    records: Sequence[dict[str, Any]],
    reference: str,
    metric: str,
    method: str = "pchip",
    codecs: Sequence[str] = (),
) -> list[BdRow]:
    """BD-rate / BD-PSNR of every codec against ``reference``, per dataset, then means."""
    groups = group(records)
    names = list(dict.fromkeys(d for d, _ in groups))
    order = list(dict.fromkeys([*codecs, *(c for _, c in groups)]))
    rows = []
    for codec in (c for c in order if c != reference):
        per_dataset = []
        for dataset in names:
            anchor, test = groups.get((dataset, reference)), groups.get((dataset, codec))
            if not test:
                continue
            if not anchor:
                rows.append(BdRow(dataset, codec, math.nan, math.nan, f"no {reference} points"))
                continue
            row = _compare(dataset, codec, anchor, test, metric, method)
            rows.append(row)
            per_dataset.append(row)
        if len(per_dataset) > 1:
            rates = [r.bd_rate for r in per_dataset if not math.isnan(r.bd_rate)]
            gains = [r.bd_psnr for r in per_dataset if not math.isnan(r.bd_psnr)]
            rows.append(
                BdRow(
                    MEAN,
                    codec,
                    sum(rates) / len(rates) if rates else math.nan,
                    sum(gains) / len(gains) if gains else math.nan,
                    f"BD-rate over {len(rates)}, BD-metric over {len(gains)} of "
                    f"{len(per_dataset)} datasets",
                )
            )
    return rows


def _number(value: float, digits: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.{digits}f}"


def markdown_table(rows: Sequence[BdRow], reference: str, metric: str) -> str:
    """The BD table as Markdown."""
    lines = [
        f"| dataset | codec | BD-rate vs {reference} (%) | BD-{metric} | note |",
        "|---|---|---:|---:|---|",
    ]
    for row in rows:
        note = row.note.replace("|", "/").replace("\n", " ")
        lines.append(
            f"| {row.dataset} | {row.codec} | {_number(row.bd_rate, 2)} | "
            f"{_number(row.bd_psnr, 3)} | {note} |"
        )
    return "\n".join(lines) + "\n"


def csv_table(rows: Sequence[BdRow], reference: str) -> str:
    """The BD table as CSV (empty cells where no value exists)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "codec", "reference", "bd_rate_percent", "bd_metric", "note"])
    for row in rows:
        values = ["" if math.isnan(v) else f"{v:.6f}" for v in (row.bd_rate, row.bd_psnr)]
        writer.writerow([row.dataset, row.codec, reference, *values, row.note])
    return buffer.getvalue()


def _describe(codec: CodecConfig) -> str:
    """The settings a codec configuration resolves to, for the report."""
    options = codec.option_dict()
    if codec.source == "anchor":
        anchor = resolve_anchor(codec.target, options.get("preset"), options.get("params"))
        return f"{anchor.encoder}, preset {anchor.preset}, {anchor.params_option} {anchor.params}"
    if codec.source == "tmc3":
        return " ".join([*C1_RAHT_OPTIONS, *(f"--{k}={v}" for k, v in codec.options)])
    return ", ".join(f"{k}={v}" for k, v in codec.options) or "codec defaults"


def _settings(recipe: Recipe) -> str:
    lines = ["| codec | source | rate option | rates | settings |", "|---|---|---|---|---|"]
    for codec in recipe.codecs:
        target = Path(codec.target).name if codec.source == "points" else codec.target
        settings = _describe(codec)
        rates = ", ".join(str(r) for r in codec.rates)
        lines.append(
            f"| {codec.name} | {codec.source} {target} | {codec.rate_option} | {rates} | "
            f"{settings} |"
        )
    return "\n".join(lines)


_CONVENTIONS = {
    "video": (
        "8-bit YUV 4:2:0 against the decoded source; PSNR per plane (peak 255) averaged over "
        "frames; PSNR-YUV = (6Y+U+V)/8; MS-SSIM on Y; rate = all bits of the file (anchors: "
        "all packets, informational encoder SEI removed) / (W·H·frames). RGB codecs are measured "
        "after BT.601 limited-range RGB→YUV 4:2:0."
    ),
    "pointcloud": (
        "G-PCC CTC C1: lossless geometry, colour PSNR in YCbCr BT.709 (peak 255) point to point "
        "(symmetric nearest neighbour when geometry changed); rate = attribute bits per input "
        "point; total bits in rd.jsonl."
    ),
}


def write_report(
    out_dir: str | Path,
    recipe: Recipe,
    records: Sequence[dict[str, Any]],
    method: str = "pchip",
    skipped: dict[str, str] | None = None,
    failures: Sequence[str] = (),
    command: str = "",
) -> list[Path]:
    """Write ``bdrate.md``, ``bdrate.csv``, ``rd.png``, ``rd.svg`` and ``report.md``.

    Returns the written paths.
    """
    out_dir = Path(out_dir)
    names = [c.name for c in recipe.codecs]
    rows = bd_rows(records, recipe.reference, recipe.metric, method, names)
    table = markdown_table(rows, recipe.reference, recipe.metric)
    written = [out_dir / "bdrate.md", out_dir / "bdrate.csv"]
    atomic_write_bytes(written[0], table.encode())
    atomic_write_bytes(written[1], csv_table(rows, recipe.reference).encode())
    written += save_figure(rd_figure(records, recipe.metric, recipe.kind, names), out_dir / "rd")
    parts = [
        f"# {recipe.kind} RD campaign\n",
        f"Reproduce: `{command}`\n" if command else "",
        f"Datasets: {', '.join(recipe.datasets)}"
        + (
            f"; frames {recipe.start}..{recipe.start + recipe.frames - 1}"
            if recipe.kind == "video"
            else ""
        )
        + f". Points: {len(records)}. BD method: {method}, quality axis {recipe.metric}.\n",
        f"Conventions: {_CONVENTIONS[recipe.kind]}\n",
        "## Codecs\n",
        _settings(recipe) + "\n",
        f"## BD-rate against {recipe.reference}\n",
        table,
        "![rate-distortion curves](rd.png)\n",
    ]
    if skipped:
        parts.append("## Skipped codecs\n")
        parts += [f"- {name}: {why}" for name, why in skipped.items()]
        parts.append("")
    if failures:
        parts.append("## Failed points\n")
        parts += [f"- {line}" for line in failures]
        parts.append("")
    written.append(out_dir / "report.md")
    atomic_write_bytes(written[-1], "\n".join(parts).encode())
    return written
