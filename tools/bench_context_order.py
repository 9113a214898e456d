"""What the parallel (four-phase) decode order of the latents costs in bits, and what the
context model's width buys.

Fits one real frame with the codec's defaults, keeps its integer latents fixed, and trains a
fresh context model of the codec's size on them for each decode order: the codec's four phases
per level (each pass sees the coarser level and the earlier phases), a raster order (one latent
at a time: up-left, up, up-right and left neighbours, what Cool-chic-like decoders use), and the
coarser level alone (no same-level context); the codec's model also sees each latent's phase
and level (one-hot inputs, video header version 7), and a model without them is trained in the
codec's order to show what they buy. ``--widths`` then trains, in the codec's order,
models whose two hidden layers have each width listed. Prints the latents' bits under each
(model likelihood, what the entropy coder spends within ~2 %); the weights a frame would code
are not counted (the codec codes them as a step from its shipped prior).

    python tools/bench_context_order.py --json            # carphone frame 0, conv, quality 4
    python tools/bench_context_order.py --quality 8 --widths 8,16,24,32,64 --json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import torch

from nmc import datasets
from nmc.video import FrameTrace, config_for, encode_video, read_video
from nmc.video.context import ContextArch, ContextModel, latent_bits, raster_visibility
from nmc.video.frame_model import level_list
from nmc.video.latents import neighbour_visibility

ORDERS = {
    "four-phase (codec)": neighbour_visibility,
    "raster": raster_visibility,
    "coarser level only": lambda rows, cols: torch.zeros(8, rows, cols),
}


def _train(latents: list[torch.Tensor], arch: ContextArch, visibility, steps: int) -> float:
    """Bits of ``latents`` under a context model of ``arch`` trained on them for ``steps``
    Adam steps."""
    model = ContextModel(arch, len(latents))
    model.initialize(torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        bits = latent_bits(model, latents, visibility, arch.positional)
        opt.zero_grad()
        bits.backward()
        opt.step()
    with torch.no_grad():
        return float(latent_bits(model, latents, visibility, arch.positional))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="conv")
    parser.add_argument("--quality", type=int, default=4)
    parser.add_argument("--steps", type=int, default=800, help="context-model training steps")
    parser.add_argument("--widths", default="", help="hidden widths to compare, e.g. 8,32")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    video, _ = read_video(str(datasets.path("carphone")), 0, 1)
    config = config_for(args.family, args.quality)
    traces: list[FrameTrace] = []
    encode_video(video, config, progress=False, on_frame=traces.append)
    latents = level_list(traces[0].decoded, config.levels)
    results = {
        name: _train(latents, config.context, order, args.steps) for name, order in ORDERS.items()
    }
    blind = replace(config.context, positional=False)
    results["four-phase, no phase/level inputs"] = _train(
        latents, blind, neighbour_visibility, args.steps
    )
    base = results["raster"]
    for name, bits in results.items():
        record = {"order": name, "latent_bits": round(bits), "vs_raster": bits / base}
        print(
            json.dumps(record)
            if args.json
            else f"{name:>20}: {bits:9.0f} bits ({bits / base:.3f} x raster)"
        )
    for width in (int(w) for w in args.widths.split(",") if w.strip()):
        arch = replace(config.context, hidden=(width, width))
        bits = _train(latents, arch, neighbour_visibility, args.steps)
        record = {"width": width, "latent_bits": round(bits), "vs_raster": bits / base}
        print(json.dumps(record) if args.json else f"{f'width {width}':>20}: {bits:9.0f} bits")


if __name__ == "__main__":
    main()
