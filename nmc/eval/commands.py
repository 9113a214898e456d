"""The ``nmc eval``, ``nmc bdrate`` and ``nmc datasets`` subcommands.

:func:`register` adds them to the ``nmc`` command's subparsers; each handler returns an exit
code (0 ok, 1 some campaign points failed) and raises :class:`~nmc.errors.NmcError` subclasses
for user errors, which ``nmc.cli`` turns into messages and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from tqdm import tqdm

from nmc import datasets
from nmc.errors import InputError
from nmc.eval.bdrate import METHODS, bd_psnr, bd_rate
from nmc.eval.executors import EXECUTORS, default_jobs
from nmc.eval.recipe import KINDS, default_recipe, load_recipe
from nmc.eval.results import curve, group, read_points


def _data_specs(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(s.strip() for v in values for s in v.split(",") if s.strip())


def _reproduce(args: argparse.Namespace) -> str:
    words = ["nmc", "eval", args.kind]
    for flag, value in (
        ("--recipe", args.recipe),
        ("--data", ",".join(args.data) if args.data else None),
        ("--frames", args.frames),
        ("--tmc3", args.tmc3),
        ("-o", args.output),
    ):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join(words)


def _cmd_eval(args: argparse.Namespace) -> int:
    from nmc.eval.campaign import RD_FILE, run_campaign  # the codecs: only when a campaign runs

    recipe = load_recipe(args.recipe) if args.recipe else default_recipe(args.kind)
    if recipe.kind != args.kind:
        raise InputError(f"{args.recipe} is a {recipe.kind} recipe, not {args.kind}")
    if args.frames is not None and args.frames < 1:
        raise InputError("--frames must be at least 1")
    recipe = recipe.with_overrides(_data_specs(args.data), args.frames)
    quiet = getattr(args, "quiet", False)
    outcome = run_campaign(
        recipe,
        args.output,
        executor=args.executor,
        jobs=args.jobs or default_jobs(),
        address=args.address,
        tmc3=args.tmc3,
        progress=not quiet,
    )
    from nmc.eval.report import write_report  # matplotlib: only when a report is written

    written = write_report(
        args.output,
        recipe,
        outcome.records,
        args.method,
        outcome.skipped,
        outcome.failures,
        _reproduce(args),
    )
    summary = {
        "points": len(outcome.records),
        "computed": outcome.computed,
        "cached": outcome.cached,
        "skipped": outcome.skipped,
        "failures": outcome.failures,
        "files": [str(Path(args.output) / RD_FILE), *map(str, written)],
    }
    if getattr(args, "json", False):
        print(json.dumps(summary, indent=2))
    elif not quiet:
        print(
            f"{summary['points']} points ({outcome.computed} computed, {outcome.cached} cached) "
            f"-> {args.output}"
        )
        for name, why in outcome.skipped.items():
            print(f"skipped {name}: {why}", file=sys.stderr)
        for line in outcome.failures:
            print(f"failed {line}", file=sys.stderr)
    return 1 if outcome.failures else 0


def _select(path: str, codec: str | None, dataset: str | None) -> list[dict]:
    """The records of one curve in ``path``, filtered by codec / dataset when given."""
    records = [
        r
        for r in read_points(path)
        if (codec is None or r.get("codec") == codec)
        and (dataset is None or r.get("dataset") == dataset)
    ]
    if not records:
        raise InputError(f"{path}: no RD points match codec={codec!r} dataset={dataset!r}")
    curves = list(group(records))
    if len(curves) > 1:
        listed = ", ".join(f"{d or '-'}/{c or '-'}" for d, c in curves)
        raise InputError(
            f"{path} holds several curves ({listed}); choose one with --anchor-codec / "
            "--test-codec and --dataset"
        )
    return records


def _cmd_bdrate(args: argparse.Namespace) -> int:
    anchor = curve(_select(args.anchor, args.anchor_codec, args.dataset), args.metric, args.rate)
    test = curve(_select(args.test, args.test_codec, args.dataset), args.metric, args.rate)
    result = {
        "bd_rate": bd_rate(*anchor, *test, method=args.method),
        "bd_psnr": bd_psnr(*anchor, *test, method=args.method),
    }
    if getattr(args, "json", False):
        print(json.dumps(result))
    else:
        print(f"BD-rate {result['bd_rate']:+.4f} %   BD-{args.metric} {result['bd_psnr']:+.4f}")
    return 0


def _cmd_datasets_list(args: argparse.Namespace) -> int:
    rows = [
        {
            "name": e.name,
            "kind": e.kind,
            "status": datasets.status(e),
            "files": len(e.files),
            "licence": e.licence,
            "homepage": e.homepage,
            "description": e.description,
        }
        for e in datasets.REGISTRY.values()
    ]
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['name']:<14} {row['kind']:<10} {row['status']:<8} {row['description']}")
    return 0


def _cmd_datasets_fetch(args: argparse.Namespace) -> int:
    bars: dict[str, tqdm] = {}

    def progress(name: str, done: int, total: int | None) -> None:
        bar = bars.get(name)
        if bar is None:
            bar = bars[name] = tqdm(total=total, desc=name, unit="B", unit_scale=True)
        bar.update(done - bar.n)

    quiet = getattr(args, "quiet", False)
    try:
        folder = datasets.fetch(args.name, Path(args.output) if args.output else None,
                                None if quiet else progress)  # fmt: skip
    finally:
        for bar in bars.values():
            bar.close()
    print(folder)
    return 0


def _cmd_datasets_path(args: argparse.Namespace) -> int:
    print(datasets.path(args.name))
    return 0


def _add_eval(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "eval",
        help="run an RD campaign (anchors + nmc codecs), write rd.jsonl, BD tables, plots",
        description="Datasets x codec configurations x rate points from a recipe; resumable.",
    )
    parser.add_argument("kind", choices=KINDS, help="video or pointcloud")
    parser.add_argument(
        "--data",
        action="append",
        help="dataset name (nmc datasets list), NAME:ITEM, or a file/folder; repeatable or "
        "comma-separated (default: the recipe's)",
    )
    parser.add_argument("--frames", type=int, default=None, help="video frames to code")
    parser.add_argument("-o", "--output", required=True, help="results folder")
    parser.add_argument("--recipe", default=None, help="campaign TOML (default: built-in)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local", help="where points run")
    parser.add_argument("--address", default=None, help="Ray cluster address (--executor ray)")
    parser.add_argument(
        "--jobs", type=int, default=None, help="local worker processes (default: CPUs, max 4)"
    )
    parser.add_argument("--tmc3", default=None, help="path of the G-PCC reference encoder tmc3")
    parser.add_argument("--method", choices=METHODS, default="pchip", help="BD interpolation")
    parser.set_defaults(handler=_cmd_eval)


def _add_bdrate(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bdrate",
        help="BD-rate / BD-PSNR between two RD curves (JSON lines with bpp + metric)",
    )
    parser.add_argument("anchor", help="anchor RD points (.jsonl)")
    parser.add_argument("test", help="test RD points (.jsonl)")
    parser.add_argument("--metric", default="psnr_yuv", help="quality field (default psnr_yuv)")
    parser.add_argument("--rate", default="bpp", help="rate field (default bpp)")
    parser.add_argument("--method", choices=METHODS, default="pchip", help="interpolation")
    parser.add_argument("--anchor-codec", default=None, help="pick this codec's anchor points")
    parser.add_argument("--test-codec", default=None, help="pick this codec's test points")
    parser.add_argument("--dataset", default=None, help="pick this dataset's points")
    parser.add_argument("--json", action="store_true", help='print {"bd_rate": %%, "bd_psnr": dB}')
    parser.set_defaults(handler=_cmd_bdrate)


def _add_datasets(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("datasets", help="list, fetch and locate evaluation datasets")
    actions = parser.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="known datasets and whether they are here")
    listing.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    listing.set_defaults(handler=_cmd_datasets_list)
    fetching = actions.add_parser("fetch", help="download a dataset (resumable, checksummed)")
    fetching.add_argument("name")
    fetching.add_argument("-o", "--output", default=None, help="folder (default: data dir)")
    fetching.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)
    fetching.set_defaults(handler=_cmd_datasets_fetch)
    locating = actions.add_parser("path", help="print where a dataset is on this machine")
    locating.add_argument("name")
    locating.set_defaults(handler=_cmd_datasets_path)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval``, ``bdrate`` and ``datasets`` to the ``nmc`` command."""
    _add_eval(subparsers)
    _add_bdrate(subparsers)
    _add_datasets(subparsers)


__all__ = ["register"]
