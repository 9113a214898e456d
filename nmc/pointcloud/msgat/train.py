"""Train the MS-GAT post-filter on real scans coded by nmc (``nmc train msgat``).

Steps: code every scan at the CTC QPs (cached), split train / validation by scan (held-out
scans are never read), train on random kNN patches with a loss equal to minus the mean
per-patch PSNR gain, validate on fixed patches, checkpoint (``--resume`` continues), then
calibrate the per-QP gating on the whole validation clouds and write the weights file plus
a JSON record beside it. Under ``torchrun`` (``WORLD_SIZE`` set) it runs data-parallel with
DistributedDataParallel; rank 0 validates and writes.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from nmc.bitstream import atomic_write_bytes
from nmc.errors import InputError
from nmc.pointcloud.msgat.calibrate import YUV_WEIGHTS, calibrate
from nmc.pointcloud.msgat.checkpoint import load_weights, save_weights
from nmc.pointcloud.msgat.commands import add_arguments
from nmc.pointcloud.msgat.config import ModelConfig, PatchConfig
from nmc.pointcloud.msgat.data import PatchSample, PatchSampler, Triple, load_triples
from nmc.pointcloud.msgat.filter import PostFilter
from nmc.pointcloud.msgat.gating import StepGating
from nmc.pointcloud.msgat.graph import build_patch_graph
from nmc.pointcloud.msgat.model import MSGAT

SCAN_SUFFIXES = (".pcd", ".ply")
# Floor of the per-patch MSE in the loss: patches coded almost losslessly would otherwise
# dominate a ratio of tiny numbers.
_MSE_FLOOR = 0.1


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``nmc train msgat`` (also ``python -m nmc.pointcloud.msgat.train``)."""
    parser = argparse.ArgumentParser(prog="nmc train msgat", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return parser


def split_scans(
    data: Path, held_out: Sequence[str], val: Sequence[str], max_train: int
) -> tuple[list[Path], list[Path]]:
    """Train and validation scan files of ``data``; held-out scans are excluded by name."""
    if not data.is_dir():
        raise InputError(f"{data}: not a folder of scans")
    scans = sorted(
        (p for p in data.iterdir() if p.suffix.lower() in SCAN_SUFFIXES),
        key=lambda p: (len(p.stem), p.stem),
    )
    names = {p.stem for p in scans}
    missing = [n for n in val if n not in names]
    if missing:
        raise InputError(f"validation scans {missing} are not in {data}")
    train = [p for p in scans if p.stem not in set(held_out) | set(val)]
    valid = [p for p in scans if p.stem in set(val)]
    if max_train and len(train) > max_train:
        # Spread the subset over the whole list so every scene type stays represented.
        pick = np.linspace(0, len(train) - 1, max_train).round().astype(int)
        train = [train[i] for i in sorted(set(pick))]
    if not train or not valid:
        raise InputError(f"{data}: need at least one training and one validation scan")
    return train, valid


def patch_loss(out: torch.Tensor, sample: PatchSample, kind: str = "patch") -> torch.Tensor:
    """Minus the mean PSNR-YUV gain, in nepers (ln 10 / 10 per dB).

    Args:
        out: ``[B * P, 3]`` filtered Y, Cb, Cr; sample: the patches it was computed from.
        kind: ``"patch"``, the mean of every patch's own gain (each patch counts alike), or
            ``"cloud"``, the first-order change of the gain of the whole clouds the patches
            were drawn from (a patch's MSE change over its cloud's MSE): the metric weighs
            the points of a cloud alike, so patches of large errors count more.
    """
    batch = sample.qp.shape[0]
    dec = torch.from_numpy(sample.decoded)
    orig = torch.from_numpy(sample.original).to(out.device)
    mse_in = ((dec.to(out.device) - orig) ** 2).view(batch, -1, 3).mean(1) + _MSE_FLOOR
    mse_out = ((out - orig) ** 2).view(batch, -1, 3).mean(1) + _MSE_FLOOR
    weights = torch.as_tensor(YUV_WEIGHTS, dtype=out.dtype, device=out.device)
    if kind == "patch":
        return (torch.log(mse_out / mse_in) * weights).sum(1).mean()
    if kind == "cloud":
        cloud = torch.from_numpy(sample.cloud_mse).to(out.device) + _MSE_FLOOR
        return ((mse_out - mse_in) / cloud * weights).sum(1).mean()
    raise ValueError(f"loss kind {kind!r} is not 'patch' or 'cloud'")


def _forward(model: torch.nn.Module, sample: PatchSample, config: ModelConfig, dev) -> torch.Tensor:
    graph = build_patch_graph(sample.xyz, config.scales, config.knn).to(dev)
    dec = torch.from_numpy(sample.decoded).to(dev)
    return dec + model(dec, torch.from_numpy(sample.step).to(dev), graph)


def validate(model: MSGAT, samples: list[PatchSample], dev: torch.device) -> dict[int, float]:
    """Mean PSNR-YUV gain (dB) per QP on fixed validation patches."""
    gains: dict[int, list[float]] = {}
    model.eval()
    with torch.inference_mode():
        for sample in samples:
            batch = sample.qp.shape[0]
            out = _forward(model, sample, model.config, dev).cpu()
            orig = torch.from_numpy(sample.original)
            dec = torch.from_numpy(sample.decoded)
            mse_in = ((dec - orig) ** 2).view(batch, -1, 3).mean(1)
            mse_out = ((out - orig) ** 2).view(batch, -1, 3).mean(1)
            gain = 10 * torch.log10(mse_in.clamp_min(1e-6) / mse_out.clamp_min(1e-6))
            gain_yuv = (gain.double() * torch.as_tensor(YUV_WEIGHTS)).sum(1)
            for qp, g in zip(sample.qp.tolist(), gain_yuv.tolist()):
                gains.setdefault(qp, []).append(g)
    model.train()
    return {qp: float(np.mean(v)) for qp, v in sorted(gains.items())}


def _validation_samples(triples: list[Triple], size: int, per_triple: int) -> list[PatchSample]:
    out = []
    for i, triple in enumerate(triples):
        sampler = PatchSampler([triple], size, seed=1000 + i)
        out.append(sampler.sample(per_triple))
    return out


def lr_factor(step: int, progress: float) -> float:
    """Learning-rate multiplier: linear warm-up over 50 steps, then cosine decay to 0.

    Args:
        step: optimizer steps taken so far.
        progress: share of the run done, in [0, 1]: the larger of the step and time budgets
            used (``--steps`` and ``--time-limit``), so a run stopped by its time limit
            still ends its schedule at a learning rate of 0.
    """
    return min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _per_qp(gains: dict[int, float]) -> str:
    return " ".join(f"QP{q}={g:+.3f}" for q, g in gains.items())


def noise_levels(scans: int, largest: float) -> list[float]:
    """Colour-noise standard deviations of the noisy copies of ``scans`` scans.

    Spread evenly from ``largest / 10`` to ``largest`` (RGB levels) over the scans in
    their listed order, so every scene type meets weak and strong noise; empty when
    ``largest`` is 0 (no noisy copies).
    """
    if largest <= 0 or scans == 0:
        return []
    return [round(float(s), 2) for s in np.linspace(largest / 10, largest, scans)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run a training; returns a process exit code."""
    args = build_parser().parse_args(argv)
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Train with parsed arguments (see :func:`build_parser`)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.time()
    world, rank, dev = _setup_distributed(args.device)
    lead = rank == 0
    show = lead and not getattr(args, "quiet", False)
    qps = [int(q) for q in str(args.qps).split(",") if q]
    held_out = [s for s in str(args.held_out).split(",") if s]
    val_names = [s for s in str(args.val).split(",") if s]
    train_paths, val_paths = split_scans(args.data, held_out, val_names, args.max_train_scans)
    cache = args.cache or _default_cache()
    bar = tqdm(
        total=len(train_paths) + len(val_paths), desc="coding", unit="scan", disable=not show
    )
    train_triples = load_triples(train_paths, qps, cache, args.bits, lambda _: bar.update())
    val_triples = load_triples(val_paths, qps, cache, args.bits, lambda _: bar.update())
    noisy_val: list[Triple] = []
    if args.colour_noise > 0:
        # Every other training scan gets a noisy copy: a third of the training triples.
        noisy_train = train_paths[::2]
        bar.reset(total=len(noisy_train) + len(val_paths))
        bar.set_description("coding noisy copies")
        train_noise = noise_levels(len(noisy_train), args.colour_noise)
        val_noise = noise_levels(len(val_paths), args.colour_noise)
        train_triples += load_triples(
            noisy_train, qps, cache, args.bits, lambda _: bar.update(), train_noise
        )
        noisy_val = load_triples(
            val_paths, qps, cache, args.bits, lambda _: bar.update(), val_noise
        )
    bar.close()

    torch.manual_seed(args.seed)
    if args.init:
        model = load_weights(args.init)[0]
        config = model.config
    else:
        config = ModelConfig(
            channels=args.channels, cheb_k=args.cheb_k, cheb_layers=args.cheb_layers, knn=args.knn
        )
        model = MSGAT(config)
    model = model.to(dev)
    trainer = Trainer(model, args, dev, rank, world, train_triples, (val_triples, noisy_val))
    trainer.fit(lead, show)
    if world > 1:
        dist.destroy_process_group()
    if not lead:
        return 0

    model = model.cpu().eval()
    patches = PatchConfig()
    gating, val_report = calibrate(PostFilter(model, StepGating.full(), patches), val_triples)
    record = {
        "recipe": _recipe(args),
        "model": config.to_dict(),
        "patches": asdict(patches),
        "scans": {
            "train": [p.stem for p in train_paths],
            "validation": [p.stem for p in val_paths],
            "held_out": held_out,
            "data": str(args.data),
        },
        "qps": qps,
        "steps": trainer.step,
        "world_size": world,
        "train_seconds": round(trainer.seconds, 1),
        "total_seconds": round(time.time() - started, 1),
        "history": trainer.history,
        "validation": val_report,
        "torch": str(torch.__version__),
    }
    save_weights(args.output, model, gating, patches, record)
    card = {"weights": args.output.name, "gating": gating.to_dict(), **record}
    atomic_write_bytes(args.output.with_suffix(".json"), json.dumps(card, indent=2).encode())
    summary = {q: round(v["gain_db"]["yuv"], 3) for q, v in val_report.items()}
    print(f"wrote {args.output}; validation PSNR-YUV gain (dB) per QP: {summary}", file=sys.stderr)
    return 0


def _default_cache() -> Path:
    """Where coded scans are kept between runs (outside the package and the output folder)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "nmc" / "msgat"


def _recipe(args: argparse.Namespace) -> dict:
    """The JSON-able training options (the CLI adds callables and flags of its own)."""
    plain = (str, int, float, bool, type(None))
    return {
        k: str(v) if isinstance(v, Path) else v
        for k, v in sorted(vars(args).items())
        if isinstance(v, (Path, *plain)) and k not in ("command", "model", "json", "quiet")
    }


def _setup_distributed(device: str) -> tuple[int, int, torch.device]:
    """``(world_size, rank, device)``; joins the process group under torchrun."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda requested but no CUDA GPU is available")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 1, 0, dev
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    return world, dist.get_rank(), dev


class Trainer:
    """The optimisation loop with its checkpoint (``OUTPUT.ckpt``) and validation."""

    def __init__(
        self,
        model: MSGAT,
        args: argparse.Namespace,
        dev: torch.device,
        rank: int,
        world: int,
        train_triples: list[Triple],
        val_triples: tuple[list[Triple], list[Triple]],
    ) -> None:
        """``val_triples``: the validation scans as they are, and their noisy copies
        (``--colour-noise``; may be empty), validated and recorded separately."""
        self.model = model
        self.args = args
        self.dev = dev
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
        self.ckpt = args.output.with_suffix(args.output.suffix + ".ckpt")
        self.step, self.history, self.seconds = 0, [], 0.0
        self.sampler = PatchSampler(train_triples, args.patch_size, seed=args.seed * 1000 + rank)
        self.val_samples, self.noisy_val_samples = (
            _validation_samples(triples, args.patch_size, args.val_patches)
            for triples in val_triples
        )
        if args.resume and self.ckpt.is_file():
            state = torch.load(self.ckpt, map_location=dev, weights_only=True)
            model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.step, self.history, self.seconds = (
                state["step"],
                state["history"],
                state["train_seconds"],
            )
            self.sampler.rng = np.random.default_rng([args.seed, rank, self.step])
        self.net = model
        if world > 1:
            ids = [dev.index] if dev.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def fit(self, lead: bool, show: bool = True) -> None:
        """Train until ``--steps`` or ``--time-limit``; validate and checkpoint on the lead.

        Args:
            lead: this process validates and writes checkpoints (rank 0).
            show: draw the tqdm bar and validation lines (stderr).
        """
        args = self.args
        limit = args.time_limit * 60.0
        start = time.time() - self.seconds
        bar = tqdm(total=args.steps, initial=self.step, desc="training", disable=not show)
        self.model.train()
        while not self._done(time.time() - start, limit):
            progress = max(self.step / args.steps, (time.time() - start) / limit if limit else 0)
            for group in self.optimizer.param_groups:
                group["lr"] = args.lr * lr_factor(self.step, progress)
            sample = self.sampler.sample(args.batch)
            out = _forward(self.net, sample, self.model.config, self.dev)
            loss = patch_loss(out, sample, args.loss)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.step += 1
            self.seconds = time.time() - start
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if lead and self.step % args.val_every == 0:
                self._validate_and_save(bar if show else None, float(loss.item()))
        if lead and (not self.history or self.history[-1]["step"] != self.step):
            self._validate_and_save(bar if show else None, float("nan"))
        bar.close()

    def _done(self, elapsed: float, limit: float) -> bool:
        """Whether training stops now; under DDP every rank follows rank 0's clock, so all
        ranks take the same number of steps (a rank left waiting would hang)."""
        done = self.step >= self.args.steps or bool(limit and elapsed >= limit)
        if dist.is_available() and dist.is_initialized():
            flag = torch.tensor([float(done)], device=self.dev)
            dist.broadcast(flag, src=0)
            done = bool(flag.item())
        return done

    def _validate_and_save(self, bar: tqdm | None, loss: float) -> None:
        gains = validate(self.model, self.val_samples, self.dev)
        entry = {
            "step": self.step,
            "seconds": round(self.seconds, 1),
            "loss": loss,
            "val_gain_db": gains,
        }
        line = f"step {self.step}: validation PSNR-YUV gain (dB) {_per_qp(gains)}"
        if self.noisy_val_samples:
            entry["noisy_val_gain_db"] = validate(self.model, self.noisy_val_samples, self.dev)
            line += f"; noisy {_per_qp(entry['noisy_val_gain_db'])}"
        self.history.append(entry)
        if bar is not None:
            bar.write(line)
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "history": self.history,
            "train_seconds": self.seconds,
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.ckpt, buffer.getvalue())


if __name__ == "__main__":
    sys.exit(main())
