"""The ``nmc`` command: ffmpeg / tmc3 habits (input first, ``-o`` output, ``-q``, ``--json``).

Exit codes: 0 success, 1 damaged or unsupported bitstream, 2 bad input or usage (an output
that cannot be written included), 130 interrupted (Ctrl-C). Every error is one
``nmc: error:`` line on stderr, every :class:`~nmc.errors.NmcWarning` one ``nmc: warning:``
line; outputs are written atomically, so a failed or interrupted command leaves no file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from nmc import __version__, api, registry
from nmc.bitstream import atomic_write_bytes, check_output, read_bytes, unpack
from nmc.errors import BitstreamError, InputError, NmcError, NmcWarning

_COMMON_ENCODE = {
    "quality": (int, "quality level 1 (smallest file) .. 8 (best)"),
    "qp": (int, "quantization parameter (point clouds: G-PCC QP, 4..51)"),
    "target_bpp": (float, "search the setting that meets this rate, bits per pixel"),
    "device": (str, "cpu or cuda"),
}
# Subcommands contributed by other parts of the package: module -> function(subparsers).
_PLUGINS = ("nmc.eval.commands", "nmc.pointcloud.msgat.commands")


def _auto(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _add_codec_options(parser: argparse.ArgumentParser) -> None:
    """Flags for every option the installed codecs declare (``OPTIONS`` of their descriptors)."""
    for module in registry.descriptors().values():
        for name, help_text in module.OPTIONS.items():
            flag = "--" + name.replace("_", "-")
            if flag in parser._option_string_actions or name == "progress":
                continue
            parser.add_argument(
                flag, dest=name, type=_auto, default=None, help=f"{help_text} [{module.NAME}]"
            )


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The codec options the user set (None = not given), plus ``progress``."""
    skip = {"command", "input", "output", "json", "quiet", "handler", "codec"}
    out = {k: v for k, v in vars(args).items() if k not in skip and v is not None}
    out["progress"] = not args.quiet
    return out


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    for key, value in report.items():
        if not isinstance(value, (list, dict)):
            print(f"{key:>22}: {value}")


def _cmd_encode(args: argparse.Namespace) -> int:
    source = Path(args.input)
    if not source.exists():
        raise InputError(f"{source}: no such file")
    check_output(args.output)
    data, report = api.encode_with_report(source, args.codec, **_options(args))
    atomic_write_bytes(args.output, data)
    report["output"] = str(args.output)
    if not args.quiet or args.json:
        _print_report(report, args.json)
    return 0


def _cmd_decode(args: argparse.Namespace) -> int:
    container = unpack(read_bytes(args.input))
    check_output(args.output)
    options = _options(args)
    media, report = api.decode_with_report(container, **options)
    registry.by_id(container.codec_id).write_output(media, Path(args.output), **options)
    report["output"] = str(args.output)
    if not args.quiet or args.json:
        _print_report(report, args.json)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    report = api.info(read_bytes(args.input))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print_report({k: v for k, v in report.items() if k not in ("chunks", "error")}, False)
        print(f"{'#':>5} {'kind':<6} {'offset':>10} {'bytes':>10}")
        for chunk in report["chunks"]:
            print(
                f"{chunk['index']:>5} {chunk['kind']:<6} {chunk['offset']:>10} {chunk['bytes']:>10}"
            )
    if "error" in report:
        print(f"nmc: error: {args.input}: {report['error']}", file=sys.stderr)
        return 1
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from nmc.demo import run_demo

    return run_demo(Path(args.output), quick=args.quick, progress=not args.quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nmc",
        description="Neural media codecs: video by neural weight stepping, point-cloud attributes "
        "(RAHT + MS-GAT), BD-rate evaluation.",
        epilog="Exit codes: 0 ok, 1 damaged/unsupported bitstream, 2 bad input or usage.",
    )
    parser.add_argument("--version", action="version", version=f"nmc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    enc = sub.add_parser("encode", help="encode a video or point cloud into a .nmc file")
    enc.add_argument("input", help="video (.mp4, .y4m, ...) or point cloud (.ply, .pcd)")
    enc.add_argument("-o", "--output", required=True, help="output .nmc file")
    enc.add_argument(
        "--codec", default=None, help="force a codec instead of choosing by input type"
    )
    for name, (kind, help_text) in _COMMON_ENCODE.items():
        enc.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=help_text)
    _add_codec_options(enc)
    enc.set_defaults(handler=_cmd_encode)

    dec = sub.add_parser("decode", help="decode a .nmc file")
    dec.add_argument("input", help=".nmc file")
    dec.add_argument("-o", "--output", required=True, help="output media (.y4m, .mkv, .png, .ply)")
    dec.add_argument("--device", default=None, help="cpu or cuda")
    _add_codec_options(dec)
    dec.set_defaults(handler=_cmd_decode)

    inf = sub.add_parser("info", help="print a .nmc file's header and chunk table (like ffprobe)")
    inf.add_argument("input", help=".nmc file")
    inf.set_defaults(handler=_cmd_info)

    demo = sub.add_parser("demo", help="run the codecs end to end on bundled real samples")
    demo.add_argument("-o", "--output", default="demo-out", help="folder for the demo's outputs")
    demo.add_argument("--quick", action="store_true", help="smaller, faster settings")
    demo.set_defaults(handler=_cmd_demo)

    for module_name in _PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue
            raise
        module.register(sub)

    for action in sub.choices.values():
        known = action._option_string_actions
        if "--quiet" not in known:
            action.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
        if "--json" not in known:
            action.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Idle OpenMP threads sleep instead of spinning: on a shared machine spinning threads made
    # the MS-GAT decode of a 176 k-point scan take 17 s instead of 5.6 s (measured here). Set
    # before torch is imported (the codecs import it lazily); a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return handler(args)
    except BitstreamError as exc:
        print(f"nmc: error: {exc}", file=sys.stderr)
        return 1
    except NmcError as exc:
        print(f"nmc: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # An I/O failure outside nmc's own readers and writers (which raise InputError).
        print(f"nmc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nmc: interrupted", file=sys.stderr)
        return 130


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` of the command: nmc's own warnings as one line each."""
    if issubclass(category, NmcWarning):
        print(f"nmc: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


if __name__ == "__main__":
    sys.exit(main())
