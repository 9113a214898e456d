"""Intra benchmark (issue 11): single real frames, both families, against x265 / x264 all-intra.

Each frame is coded alone, as a user would code it (``nmc.video.encode(video, family=F,
quality=Q, frames=1, progress=False)``, default options, ``VideoDecoder(data).read()``); the
rate is the whole file (8 · bytes), PSNR is measured here on the decoded 8-bit 4:2:0 planes
(PSNR-YUV = (6 Y + U + V) / 8). x265 and x264 (preset medium, all-intra ``keyint=1``, CRF
ladder, informational SEI not counted, via ``nmc.eval.anchors``) code the same planes in the
same run. Per frame: BD-rate (PCHIP on log-rate, PSNR-YUV and PSNR-Y) of each family against
each anchor; then a summary record with the better family per frame and the issue's target
(better family <= +21 % vs x265 intra on carphone-f0, <= +30 % on the others). Records are JSON
lines (``--json`` on stdout, ``-o`` to a file written atomically after every frame).

Frames (crops, never resampled; none is in a test or tuning set except carphone-f0; ``--clips
all`` adds the extra; ``--save-clips DIR`` writes each as DIR/NAME.y4m for ``nmc encode``):

- ``carphone-f0``: carphone_pristine.mp4 frame 0, whole 176x144 (the frame the codec is tuned on)
- ``bikes-f150``: bikes.mp4 frame 150, crop 224x128 at top 64, left 272 (railings, a car, facades)
- ``bikes-f230``: bikes.mp4 frame 230, crop 176x144 at top 48, left 288 (a parked bicycle, wall)
- ``bbb-f100``: bigbuckbunny.mp4 frame 100, crop 352x288 at top 288, left 848 (rocks, grass)
- extra ``bbb-f0``: bigbuckbunny.mp4 frame 0, crop 176x144 at top 432, left 640 (grass only)

Commands::

    python tools/bench_intra.py --json -o intra.jsonl        # the full run (4 frames, q 2,4,6,8)
    python tools/bench_intra.py                              # the same, as tables
    python tools/bench_intra.py --quick                      # smoke: 96x64 crop, q 2 and 8
    python tools/bench_intra.py --quick --preset fast        # the fastest smoke run
    python tools/bench_intra.py --clips carphone-f0 --families conv --qualities 1,3,5,7,8
    python tools/bench_intra.py --preset slow                # encode option preset=slow
    python tools/bench_intra.py --families ''                # anchors only (seconds)
"""

from __future__ import annotations

import argparse
import sys

import _bench_cli as cli
import _bench_common as bench

QUALITIES = "2,4,6,8"
CLIPS = bench.catalogue(
    ("carphone-f0", "carphone", 0, 1, None, "a face in a car; tuning frame"),
    ("bikes-f150", "bikes", 150, 1, (64, 272, 128, 224), "railings, a car, facades"),
    ("bikes-f230", "bikes", 230, 1, (48, 288, 144, 176), "a parked bicycle, stone wall"),
    ("bbb-f100", "bigbuckbunny", 100, 1, (288, 848, 288, 352), "rocks and grass (CGI)"),
    ("bbb-f0", "bigbuckbunny", 0, 1, (432, 640, 144, 176), "grass only (CGI, extra)"),
)
DEFAULT_CLIPS = ("carphone-f0", "bikes-f150", "bikes-f230", "bbb-f100")
QUICK_CLIP = bench.ClipSpec("carphone-f0-crop", "carphone", 0, 1, (32, 40, 64, 96), "smoke run")
REFERENCE = ("x264-intra", "x265-intra")
"""The anchors compared with each other, as a check of the anchor curves."""
TARGET = bench.Target("x265-intra", 30.0, (("carphone-f0", 21.0),))
"""Issue 11: better family <= +21 % vs x265 intra on carphone frame 0, <= +30 % elsewhere."""
ANCHORS = {
    "x264": bench.AnchorSetup("x264-intra", "x264", "keyint=1", "x264 medium, all-intra"),
    "x265": bench.AnchorSetup(
        "x265-intra", "x265", "log-level=error:keyint=1", "x265 medium, all-intra"
    ),
}


def run_clip(spec: bench.ClipSpec, args: argparse.Namespace, records: cli.Records) -> None:
    """Code one frame with every family, quality and anchor; add its points and BD-rates."""
    video, clip = cli.start_clip(spec, 1, args, records)
    for family in args.families:
        for quality in args.qualities:
            point, report = bench.code_nmc(video, family, quality, args.options)
            clip.add(f"nmc-{family}", bench.with_parts(point, report))
    for setup in (ANCHORS[name] for name in args.anchors):
        for crf in args.crfs:
            clip.add(setup.label, bench.code_anchor(video, setup, crf))
    labels = [ANCHORS[name].label for name in args.anchors]
    clip.compare([(f"nmc-{f}", a) for f in args.families for a in labels] + [REFERENCE])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_common_arguments(
        parser,
        list(CLIPS),
        "a 96x64 crop of carphone frame 0, first and last quality",
        QUALITIES,
    )
    args = cli.finish_arguments(parser, argv)
    clips = cli.select_clips(args, CLIPS, DEFAULT_CLIPS, QUICK_CLIP)
    labels = [ANCHORS[name].label for name in args.anchors]
    return cli.run(args, clips, run_clip, labels, TARGET)


if __name__ == "__main__":
    sys.exit(main())
