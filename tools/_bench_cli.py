"""Running the benchmarks of ``bench_intra.py`` and ``bench_video.py``: options, the loop over
clips, JSON-line records (stdout and an atomic ``-o`` file), tables, the RD plot.

What is measured and how is :mod:`_bench_common`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from _bench_common import (
    METRICS,
    ClipSpec,
    Record,
    Target,
    bd_record,
    load_clip,
    parse_list,
    parse_options,
    part_shares,
    parts_column,
    save_clip,
    summarize,
)

from nmc.bitstream import atomic_write_bytes
from nmc.media import Video

CRFS = "22,27,32,37,42,47"
"""Default anchor CRF ladder: wide enough to overlap nmc's PSNR range at both ends."""


class Records:
    """Collects records; prints each as a JSON line (``--json``) and writes them all to
    ``output`` atomically (after every clip, so a long run keeps what it measured)."""

    def __init__(self, as_json: bool, output: Path | None) -> None:
        self.items: list[Record] = []
        self.as_json = as_json
        self.output = output

    def add(self, record: Record) -> None:
        self.items.append(record)
        if self.as_json:
            print(json.dumps(record), flush=True)

    def save(self) -> None:
        if self.output is not None:
            text = "".join(json.dumps(r) + "\n" for r in self.items)
            atomic_write_bytes(self.output, text.encode())


class ClipCurves:
    """The RD curves of one clip; each point goes to the records (and stderr) when measured."""

    def __init__(self, records: Records, clip: str, source: str) -> None:
        self.records = records
        self.base = {"record": "point", "clip": clip, "source": source}
        self.curves: dict[str, list[Record]] = {}

    def add(self, codec: str, point: Record) -> None:
        """Append ``point`` to curve ``codec``."""
        self.curves.setdefault(codec, []).append(point)
        self.records.add({**self.base, "codec": codec, **point})
        progress(self.records.items[-1])

    def skip(self, codec: str, reason: str) -> None:
        """Record that curve ``codec`` could not be measured (e.g. an encode option this codec
        version does not have), and go on with the others."""
        self.records.add({**self.base, "record": "skipped", "codec": codec, "reason": reason})
        print(f"{self.base['clip']:>16s} {codec}: skipped ({reason})", file=sys.stderr, flush=True)

    def compare(self, pairs: Iterable[tuple[str, str]]) -> None:
        """BD-rate records of every ``(test, anchor)`` pair and metric; then save the records."""
        pairs = list(pairs)
        for metric in METRICS:
            for test, anchor in pairs:
                if test in self.curves and anchor in self.curves:
                    self.records.add(
                        bd_record(self.base["clip"], test, anchor, self.curves, metric)
                    )
        self.records.save()


def progress(point: Record) -> None:
    """One line per rate point on stderr, so long runs show where they are."""
    print(f"{point['clip']:>16s} {point_row(point)}", file=sys.stderr, flush=True)


_HEADER = ("codec", "rate", "kbit", "bpp", "Y dB", "YUV dB", "enc s", "dec s")
_WIDTHS = (-20, 6, 9, 7, 6, 6, 8, 7)


def _cells(values: Sequence[str]) -> str:
    return " ".join(f"{v:<{-w}s}" if w < 0 else f"{v:>{w}s}" for v, w in zip(values, _WIDTHS))


def point_row(point: Record) -> str:
    """One table row: codec, rate point, kbit, bpp, PSNR-Y and PSNR-YUV (dB), enc / dec s."""
    rate = f"q{point['quality']}" if "quality" in point else f"crf{point['crf']}"
    return _cells(
        (
            point["codec"],
            rate,
            f"{point['bits'] / 1000:.2f}",
            f"{point['bpp']:.4f}",
            f"{point['psnr_y']:.2f}",
            f"{point['psnr_yuv']:.2f}",
            f"{point['encode_seconds']:.2f}",
            f"{point['decode_seconds']:.3f}",
        )
    )


def print_tables(records: Sequence[Record], extra: Callable[[Record], str] = lambda r: "") -> None:
    """Human-readable tables: points per clip (``extra`` adds a column), skipped curves,
    BD-rates, then the summary."""
    _print_points([r for r in records if r["record"] == "point"], extra)
    for r in (r for r in records if r["record"] == "skipped"):
        print(f"\n{r['clip']}: {r['codec']} skipped: {r['reason']}")
    print("\nBD-rate (PCHIP, % bits at equal PSNR; negative = fewer bits than the anchor)")
    for r in (r for r in records if r["record"] == "bd_rate"):
        pair = f"{r['test']} vs {r['anchor']}"
        shown = _fmt(r["bd_rate_percent"]) if r["bd_rate_percent"] is not None else r["note"]
        print(f"  {r['clip']:<16s} {r['metric']:<9s} {pair:<34s} {shown[:90]}")
    for r in (r for r in records if r["record"] == "summary"):
        _print_summary(r)


def _print_points(points: Sequence[Record], extra: Callable[[Record], str]) -> None:
    for clip in dict.fromkeys(p["clip"] for p in points):
        print(f"\n{clip}: {next(p['source'] for p in points if p['clip'] == clip)}")
        print("  " + _cells(_HEADER))
        for p in (p for p in points if p["clip"] == clip):
            print(f"  {point_row(p)}{extra(p)}")


def _print_summary(summary: Record) -> None:
    print("\nbetter family per clip, PSNR-YUV BD-rate (%)")
    for anchor, clips in summary["better_family_bd_rate_percent"].items():
        print(f"  vs {anchor:<11s} " + ", ".join(f"{c} {_fmt(v)}" for c, v in clips.items()))
    target = summary.get("target")
    if target:
        verdict = {True: "met", False: "NOT met"}
        cells = ", ".join(
            f"{c} {_fmt(t['bd_rate_percent'])} <= {t['limit']:g}: {verdict[t['met']]}"
            for c, t in target["clips"].items()
        )
        print(f"  target vs {target['anchor']}: {cells}")
    for codec, shares in summary.get("bits_by_part_share", {}).items():
        cells = " ".join(f"{name} {100 * share:.0f}%" for name, share in shares.items())
        print(f"  bits by part, {codec} (all points): {cells}")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}"


def save_plot(records: Sequence[Record], base: Path) -> None:
    """PSNR-YUV against bpp (log axis), one panel per clip, to ``base.png`` and ``base.svg``."""
    from nmc.eval.plots import rd_figure, save_figure

    points = [{**p, "dataset": p["clip"]} for p in records if p["record"] == "point"]
    save_figure(
        rd_figure(points, "psnr_yuv", codecs=list(dict.fromkeys(p["codec"] for p in points))), base
    )


def add_common_arguments(
    parser: argparse.ArgumentParser, clips: Sequence[str], quick: str, qualities: str
) -> None:
    """Options both benchmarks take; ``clips`` names the catalogue, ``quick`` the smoke run."""
    parser.add_argument("--clips", default="", help=f"comma list of {', '.join(clips)} or 'all'")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {quick}")
    parser.add_argument("--save-clips", type=Path, help="also write each clip as DIR/CLIP.y4m")
    parser.add_argument("--families", default="conv,mlp", help="comma list of conv, mlp")
    parser.add_argument(
        "--qualities", default=qualities, help=f"comma list of quality levels (default {qualities})"
    )
    parser.add_argument("--crfs", default=CRFS, help=f"anchor CRF ladder (default {CRFS})")
    parser.add_argument(
        "--anchors", default="x264,x265", help="comma list of x264, x265 ('' = none)"
    )
    parser.add_argument(
        "--preset", help="encoder preset (fast|medium|slow); passed only when given"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="extra encode option, repeatable (e.g. --set intra_steps=50); none by default",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print every record as a JSON line")
    parser.add_argument(
        "-o", "--output", type=Path, help="write all records as JSON lines (atomic)"
    )
    parser.add_argument("--plot", type=Path, help="write the RD plot to PLOT.png and PLOT.svg")


def finish_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv`` and turn the comma lists into lists; ``args.options`` = extra encode options.

    ``--quick`` keeps the first and the last quality only.
    """
    args = parser.parse_args(argv)
    args.families = parse_list(args.families, str)
    args.qualities = parse_list(args.qualities, int)
    args.crfs = parse_list(args.crfs, int)
    args.anchors = parse_list(args.anchors, str)
    unknown = set(args.anchors) - {"x264", "x265"}
    if unknown:
        parser.error(f"unknown anchor(s) {', '.join(sorted(unknown))}; use x264, x265")
    if args.quick and args.qualities:
        args.qualities = list(dict.fromkeys((args.qualities[0], args.qualities[-1])))
    args.options = encode_options(args)
    return args


def encode_options(args: argparse.Namespace) -> dict[str, Any]:
    """Encode options beyond the defaults: ``--set`` pairs, and ``preset`` only when given."""
    options = parse_options(args.set)
    if args.preset:
        options["preset"] = args.preset
    return options


def select_clips(
    args: argparse.Namespace, clips: dict[str, ClipSpec], default: Sequence[str], quick: ClipSpec
) -> list[ClipSpec]:
    """The clips of ``--clips`` (a comma list; empty: ``default``; ``all``: every one), or
    ``quick`` alone with ``--quick``."""
    if args.quick:
        return [quick]
    names = parse_list(args.clips, str) or list(default)
    if names == ["all"]:
        names = list(clips)
    unknown = [n for n in names if n not in clips]
    if unknown:
        raise SystemExit(f"unknown clip(s) {', '.join(unknown)}; known: {', '.join(clips)}")
    return [clips[n] for n in names]


def start_clip(
    spec: ClipSpec, frames: int, args: argparse.Namespace, records: Records
) -> tuple[Video, ClipCurves]:
    """Load the clip (at most ``frames`` frames; ``--save-clips`` writes them as .y4m) and
    the empty curves its points will go to."""
    video = load_clip(spec, frames)
    if args.save_clips:
        save_clip(video, args.save_clips / f"{spec.name}.y4m")
    return video, ClipCurves(records, spec.name, spec.describe(video.num_frames))


def run(
    args: argparse.Namespace,
    clips: Sequence[ClipSpec],
    run_clip: Callable[[ClipSpec, argparse.Namespace, Records], None],
    anchors: Sequence[str],
    target: Target | None = None,
) -> int:
    """Run ``run_clip`` on every clip, then :func:`conclude`; returns the exit status (0)."""
    records = Records(args.json, args.output)
    for spec in clips:
        run_clip(spec, args, records)
    conclude(records, args, anchors, target)
    return 0


def conclude(
    records: Records, args: argparse.Namespace, anchors: Sequence[str], target: Target | None
) -> None:
    """Add the summary record (BD-rates over clips against ``anchors``, bit shares per part),
    save, write the plot (``--plot``) and, without ``--json``, print the tables."""
    points = [r for r in records.items if r["record"] == "point"]
    bd = [r for r in records.items if r["record"] == "bd_rate"]
    summary = summarize(bd, [f"nmc-{f}" for f in args.families], anchors, target)
    records.add({**summary, "bits_by_part_share": part_shares(points)})
    records.save()
    if args.plot:
        save_plot(records.items, args.plot)
    if not args.json:
        print_tables(records.items, parts_column)
