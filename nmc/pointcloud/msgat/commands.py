"""``nmc train msgat``: the CLI plugin of the post-filter (loaded by :mod:`nmc.cli`).

Kept free of torch imports so that building the ``nmc`` parser stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nmc.pointcloud.msgat.config import HELD_OUT_SCANS, VALIDATION_SCANS, ModelConfig
from nmc.pointcloud.qp import CTC_QPS


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The training options (shared by the CLI and ``python -m nmc.pointcloud.msgat.train``)."""
    p.add_argument("--data", required=True, type=Path, help="folder of scans (.pcd / .ply)")
    p.add_argument("-o", "--output", required=True, type=Path, help="weights file to write (.pt)")
    p.add_argument(
        "--cache", type=Path, default=None, help="cache of coded scans [$XDG_CACHE_HOME/nmc/msgat]"
    )
    p.add_argument("--qps", default=",".join(map(str, CTC_QPS)), help="QPs to code at")
    p.add_argument("--bits", type=int, default=10, help="voxel grid depth")
    p.add_argument("--held-out", default=",".join(HELD_OUT_SCANS), help="scans never read")
    p.add_argument("--val", default=",".join(VALIDATION_SCANS), help="validation scans")
    p.add_argument("--max-train-scans", type=int, default=0, help="cap on training scans (0: all)")
    p.add_argument("--steps", type=int, default=2000, help="optimizer steps")
    p.add_argument("--time-limit", type=float, default=0.0, help="stop training after N minutes")
    p.add_argument("--batch", type=int, default=8, help="patches per step (per process)")
    p.add_argument("--patch-size", type=int, default=1024, help="points per training patch")
    p.add_argument("--lr", type=float, default=1e-2, help="peak learning rate (AdamW)")
    p.add_argument("--channels", type=int, default=ModelConfig.channels, help="feature width")
    p.add_argument("--cheb-k", type=int, default=ModelConfig.cheb_k, help="Chebyshev order K")
    p.add_argument("--cheb-layers", type=int, default=ModelConfig.cheb_layers)
    p.add_argument("--knn", type=int, default=ModelConfig.knn, help="graph neighbours")
    p.add_argument("--val-every", type=int, default=200, help="steps between validations")
    p.add_argument("--val-patches", type=int, default=4, help="validation patches per scan/QP")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT.ckpt")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument(
        "--loss",
        choices=("patch", "cloud"),
        default="patch",
        help="mean per-patch gain, or the patches' share of their whole clouds' gain",
    )
    p.add_argument(
        "--colour-noise",
        type=float,
        default=0.0,
        help="also train on a copy of every other training scan with Gaussian noise added to "
        "its source colours, sigma spread from MAX/10 to MAX RGB levels over them (0: off)",
    )
    p.add_argument(
        "--init",
        type=Path,
        help="start from these weights (.pt) instead of random ones (their network shape "
        "replaces --channels, --cheb-k, --cheb-layers and --knn)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train msgat`` to the ``nmc`` command."""
    train = subparsers.add_parser("train", help="train a learned component (msgat)")
    models = train.add_subparsers(dest="model", metavar="MODEL")
    msgat = models.add_parser("msgat", help="train the MS-GAT point-cloud post-filter")
    add_arguments(msgat)
    msgat.set_defaults(handler=_train_msgat)
    train.set_defaults(handler=lambda _args: _usage(train))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _train_msgat(args: argparse.Namespace) -> int:
    from nmc.pointcloud.msgat.train import run

    return run(args)
