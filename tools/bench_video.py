"""Video benchmark (issue 12): real clips, both families, against x265 / x264 in the same run.

Each clip is coded as a user would code it (``nmc.video.encode(video, family=F, quality=Q,
frames=N, progress=False)``, default options: the codec's own GOP and reference structure),
decoded with ``VideoDecoder(data).read()``; the rate is the whole file (8 · bytes, bpp = bits /
(W·H·frames)), PSNR is measured here on the decoded 8-bit 4:2:0 planes, per plane and frame,
mean over frames, PSNR-YUV = (6 Y + U + V) / 8. x264 and x265 (preset medium, CRF ladder,
informational SEI not counted, ``nmc.eval.anchors``) run twice each: as users run them (default
settings: ``x264`` / ``x265``, B frames, keyint 250) and low-delay P (``x264-ldp`` /
``x265-ldp``: one I frame, bframes=0). Per point: bits, bpp, PSNR-Y/U/V/YUV, encode s/frame,
decode fps, and where the encoder report says so the bits per part (``bits_by_part``: motion,
latents/residual, weights ...) and per frame kind. Per clip: BD-rate (PCHIP on log-rate,
PSNR-YUV and PSNR-Y) of each family against each anchor; then a summary record with the better
family per clip, the issue's target (better family <= +50 % vs ``x265``, default settings, on
every clip) and the share of bits per part. Records are JSON lines (``--json`` on stdout, ``-o``
to a file written atomically after every clip).

Ablations (each a full extra curve, so off unless asked for):
``--ablation-intra``: the same codec with every frame an I frame (``gop=1``) — what stepping
buys; ``--ablation-motion``: the same codec without motion (``motion=False``) — what motion buys.

Clips (crops, never resampled, no scene cut inside; none is in a test or tuning set except
carphone; ``--save-clips DIR`` writes each as DIR/NAME.y4m for ``nmc encode``):

- ``carphone``: carphone_pristine.mp4 frames 0-29, whole 176x144 — faces: a talking head in a
  car, scenery through the window (the codec's tuning clip)
- ``bikes-pan``: bikes.mp4 frames 46-75, crop 224x128 at top 72, left 208 — pan: the camera
  pans about -3 px/frame (46-51), holds, then +7 px/frame with motion blur (64-75); traffic
- ``bikes-cyclist``: bikes.mp4 frames 96-125, crop 352x256 at top 16, left 240 — fast motion:
  a car crosses the whole view (96-108), then a cyclist mounts his bike
- ``bbb-bunny``: bigbuckbunny.mp4 frames 20-49, crop 352x288 at top 64, left 320 — a
  character's face and body: the bunny stands up and stretches (non-rigid), slow camera drift

Commands::

    python tools/bench_video.py --json -o video.jsonl     # the full run (4 clips, 30 frames)
    python tools/bench_video.py                           # the same, as tables
    python tools/bench_video.py --quick                   # smoke: 6 frames of a 96x64 crop
    python tools/bench_video.py --quick --preset fast --frames 3   # the fastest smoke run
    python tools/bench_video.py --clips carphone --frames 10 --ablation-motion --ablation-intra
    python tools/bench_video.py --families '' --frames 30 # anchors only (seconds)
"""

from __future__ import annotations

import argparse
import sys

import _bench_cli as cli
import _bench_common as bench

from nmc.errors import InputError

QUALITIES = "1,3,5,7"
CLIPS = bench.catalogue(
    ("carphone", "carphone", 0, 30, None, "faces: talking head in a car; tuning clip"),
    ("bikes-pan", "bikes", 46, 30, (72, 208, 128, 224), "pan -3 then +7 px/frame, traffic"),
    ("bikes-cyclist", "bikes", 96, 30, (16, 240, 256, 352), "fast: a car crosses, cyclist"),
    ("bbb-bunny", "bigbuckbunny", 20, 30, (64, 320, 288, 352), "character stretches, CGI"),
)
QUICK_CLIP = bench.ClipSpec("carphone-crop", "carphone", 0, 6, (32, 40, 64, 96), "smoke run")
TARGET = bench.Target("x265", 50.0)
"""Issue 12: better family <= +50 % vs x265 medium (default settings) on every clip."""
ANCHORS = {
    "x264": (
        bench.AnchorSetup("x264", "x264", "", "x264 medium, default settings"),
        bench.AnchorSetup("x264-ldp", "x264", None, "x264 medium, low-delay P (bframes=0)"),
    ),
    "x265": (
        bench.AnchorSetup("x265", "x265", "log-level=error", "x265 medium, default settings"),
        bench.AnchorSetup("x265-ldp", "x265", None, "x265 medium, low-delay P (bframes=0)"),
    ),
}


def _setups(args: argparse.Namespace) -> list[bench.AnchorSetup]:
    """The anchor configurations this run measures (default settings and low-delay P)."""
    return [setup for name in args.anchors for setup in ANCHORS[name]]


def _labels(args: argparse.Namespace) -> list[str]:
    """Codec labels of the anchor curves this run measures."""
    return [setup.label for setup in _setups(args)]


def _variants(args: argparse.Namespace) -> list[tuple[str, dict]]:
    """``(suffix, extra encode options)`` of the nmc curves: the codec, then the ablations."""
    variants: list[tuple[str, dict]] = [("", {})]
    if args.ablation_intra:
        variants.append(("-allintra", {"gop": 1}))
    if args.ablation_motion:
        variants.append(("-nomotion", {"motion": False}))
    return variants


def _pairs(args: argparse.Namespace, labels: list[str]) -> list[tuple[str, str]]:
    """``(test, anchor)`` curves compared by BD-rate on every clip."""
    pairs = [(f"nmc-{f}", a) for f in args.families for a in labels]
    for family in args.families:
        pairs += [(f"nmc-{family}", f"nmc-{family}{s}") for s, _ in _variants(args)[1:]]
    pairs += [(a, b) for a, b in (("x264", "x265"), ("x265-ldp", "x265")) if {a, b} <= set(labels)]
    return pairs


def run_clip(spec: bench.ClipSpec, args: argparse.Namespace, records: cli.Records) -> None:
    """Code one clip with every family, quality, ablation and anchor; add points and BD-rates."""
    video, clip = cli.start_clip(spec, args.frames, args, records)
    for family in args.families:
        for suffix, extra in _variants(args):
            try:
                for quality in args.qualities:
                    options = {**args.options, **extra}
                    point, report = bench.code_nmc(video, family, quality, options)
                    clip.add(f"nmc-{family}{suffix}", bench.with_parts(point, report))
            except InputError as exc:
                if not suffix:  # the codec itself must run; only an ablation may be missing
                    raise
                clip.skip(f"nmc-{family}{suffix}", str(exc))
    for setup in _setups(args):
        for crf in args.crfs:
            clip.add(setup.label, bench.code_anchor(video, setup, crf))
    clip.compare(_pairs(args, _labels(args)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30, help="frames per clip (at most 30)")
    parser.add_argument("--ablation-intra", action="store_true", help="add the gop=1 curves")
    parser.add_argument("--ablation-motion", action="store_true", help="add motion=False curves")
    cli.add_common_arguments(
        parser,
        list(CLIPS),
        "6 frames of a 96x64 crop of carphone, first and last quality",
        QUALITIES,
    )
    args = cli.finish_arguments(parser, argv)
    clips = cli.select_clips(args, CLIPS, list(CLIPS), QUICK_CLIP)
    return cli.run(args, clips, run_clip, _labels(args), TARGET)


if __name__ == "__main__":
    sys.exit(main())
