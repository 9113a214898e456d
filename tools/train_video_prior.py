"""Train the video codec's shipped network priors (``nmc/models/video_prior_v1.pt``).

For each family, the default synthesis and context model are fitted *jointly* on real frames
that no benchmark or test codes: every frame has its own latents, the networks are shared, and
each frame is weighted by one rate weight of the quality ladder. A shape has one prior for
each half of the ladder (``--rates low,high``: qualities 1-4 and 5-8, video header version 9),
and the whole-ladder prior (``--rates all``) that version 6-8 streams step from. The loss is
each frame's own I-frame objective (6:1:1 MSE + lambda * latent bits / pixels, relaxed
rounding annealed as in :mod:`nmc.video.fit`), summed over frames. An encoder
then starts every I frame from the prior and codes only its difference to it
(:mod:`nmc.video.prior`).

Training frames (all 176x144; none in ``bench_intra.py``, ``bench_video.py`` or the tests):
carphone frames 60 and 100 (the tuning clip, later frames), bikes frames 10, 60, 200 and Big
Buck Bunny frames 60, 90, 120 at crops away from the benchmark windows.

The file also keeps the residual context models that streams before session 18 (header prior
id 1) code their P frames' residual latents with; this tool leaves them as they are (they were
fitted with a ``--residual`` mode of it, removed when nmc stopped using them: see
:mod:`nmc.video.prior`).

    python tools/train_video_prior.py        # both families, low- and high-rate, 2500 steps
    python tools/train_video_prior.py --families conv --rates all --steps 500 -o /tmp/prior.pt
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import sys
import time
from pathlib import Path

import _bench_common as bench
import torch
from tqdm import tqdm

from nmc.allocator import keep_freed_memory
from nmc.bitstream import atomic_write_bytes
from nmc.video.config import config_for
from nmc.video.fit import FitSettings, frame_terms, optimize, relax_latent
from nmc.video.frame_model import latent_names, split_state
from nmc.video.planes import loss_weights, to_grid
from nmc.video.prior import (
    FORMAT,
    PRIOR_FILE,
    PRIOR_HIGH_RATE,
    PRIOR_LOW_RATE,
    PRIOR_SHIPPED_NETWORKS,
    RATE_CLASSES,
    VERSION,
    prior_key,
)
from nmc.video.render import torch_threads

FRAMES = bench.catalogue(
    ("carphone-f60", "carphone", 60, 1, None, "face, car window"),
    ("carphone-f100", "carphone", 100, 1, None, "face, car window"),
    ("bikes-f10", "bikes", 10, 1, (0, 0, 144, 176), "street, top left"),
    ("bikes-f60", "bikes", 60, 1, (128, 448, 144, 176), "street, bottom right"),
    ("bikes-f200", "bikes", 200, 1, (120, 460, 144, 176), "street, right"),
    ("bbb-f60", "bigbuckbunny", 60, 1, (0, 0, 144, 176), "CGI, top left"),
    ("bbb-f90", "bigbuckbunny", 90, 1, (300, 100, 144, 176), "CGI, left"),
    ("bbb-f120", "bigbuckbunny", 120, 1, (560, 1000, 144, 176), "CGI, bottom right"),
)
# One quality per frame for each prior of a shape: the whole ladder (header prior id 2), its
# low-rate half (qualities 1-4, id 3) and its high-rate half (5-8, id 4), spread so that each
# source video sees the low and the high end of its range.
QUALITIES = {
    PRIOR_SHIPPED_NETWORKS: (2, 7, 4, 1, 8, 6, 3, 5),
    PRIOR_LOW_RATE: (2, 3, 1, 4, 4, 2, 3, 1),
    PRIOR_HIGH_RATE: (6, 7, 5, 8, 8, 6, 7, 5),
}
RATES = {suffix or "all": prior_id for prior_id, suffix in RATE_CLASSES.items()}
"""``--rates`` names (the prior file's key suffixes, ``all`` for none) -> header prior id."""


def train_family(
    family: str, steps: int, lr: float, seed: int, prior_id: int = PRIOR_SHIPPED_NETWORKS
) -> tuple[dict, dict]:
    """Fit the shared networks of ``family`` at the qualities of header prior id ``prior_id``
    (:data:`QUALITIES`); returns ``(prior state, training record)``."""
    torch.manual_seed(seed)
    frames = []
    for (name, clip), quality in zip(FRAMES.items(), QUALITIES[prior_id]):
        video = bench.load_clip(clip)
        config = config_for(family, quality)
        model = config.frame_spec(video.height, video.width).build()
        target = to_grid(*video.frame(0))
        frames.append((name, model, target, loss_weights(video.height, video.width), config.lam))
    first = frames[0][1]
    first.initialize(torch.Generator().manual_seed(seed))
    _, networks = split_state({n: p.detach() for n, p in first.named_parameters()})
    variables = {n: t.clone() for n, t in networks.items()}
    for name, model, *_ in frames:
        for latent in latent_names(model.spec):
            variables[f"{name}/{latent}"] = torch.zeros(model.get_parameter(latent).shape)
    for value in variables.values():
        value.requires_grad_(True)
    history: list[dict] = []

    def loss_fn(progress: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        total = torch.zeros(())
        shared = {n: variables[n] for n in networks}
        for name, model, target, weights, lam in frames:
            state = dict(shared)
            for latent in latent_names(model.spec):
                state[latent] = relax_latent(variables[f"{name}/{latent}"], progress)
            error, bits = frame_terms(model, state, target, weights)
            total = total + error + lam * bits / (model.height * model.width)
        return total, torch.zeros(())

    settings = FitSettings(steps, lr, 0.0, 1.0, ste_fraction=0.0, warmup=0.05)
    started = time.perf_counter()
    bar = tqdm(total=steps, desc=family, unit="step")

    def logged(progress: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        loss, zero = loss_fn(progress)
        bar.update()
        if bar.n % 100 == 0 or bar.n == steps:
            history.append({"step": bar.n, "seconds": round(time.perf_counter() - started, 1),
                            "loss": float(loss)})  # fmt: skip
            bar.set_postfix_str(f"loss {float(loss):.5f}")
        return loss, zero

    optimize(variables, logged, settings, 1)
    bar.close()
    prior = {n: variables[n].detach().clone() for n in networks}
    record = {
        "family": family,
        "signature": prior_key(first.spec, prior_id),
        "steps": steps,
        "lr": lr,
        "seed": seed,
        "frames": {name: FRAMES[name].describe(1) for name, *_ in frames},
        "qualities": dict(zip(FRAMES, QUALITIES[prior_id])),
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
    }
    return prior, record


def save(data: dict, path: Path) -> None:
    """Write a prior file atomically."""
    buffer = io.BytesIO()
    torch.save(data, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="conv,mlp")
    parser.add_argument(
        "--rates", default="low,high", help="which priors: all (whole ladder), low, high"
    )
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-o", "--output", type=Path, default=PRIOR_FILE)
    args = parser.parse_args(argv)
    data = {"format": FORMAT, "version": VERSION, "priors": {}, "residual_contexts": {},
            "records": {}}  # fmt: skip
    if args.output.exists():  # keep the other families' priors
        data = torch.load(args.output, map_location="cpu", weights_only=True)
    keep_freed_memory()  # the training steps allocate what an I frame's fit does, 8 times over
    rates = bench.parse_list(args.rates, str)
    for name in rates:  # before any training: a typo must not cost a finished family's run
        if name not in RATES:
            parser.error(f"--rates: {name!r} is not one of {', '.join(RATES)}")
    with torch_threads(args.threads):
        for family, name in itertools.product(bench.parse_list(args.families, str), rates):
            prior, record = train_family(family, args.steps, args.lr, args.seed, RATES[name])
            data["priors"][record["signature"]] = prior
            data["records"][record["signature"]] = record
            save(data, args.output)  # after each family: a long run keeps what it finished
            print(json.dumps({k: record[k] for k in ("signature", "steps", "seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
