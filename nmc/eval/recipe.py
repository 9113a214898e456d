"""Campaign recipes: which data, which codec configurations, which rate points.

A recipe is a small TOML file (see ``nmc/eval/recipes/*.toml`` for the defaults and ``eval/`` for
the committed campaigns)::

    kind = "video"              # or "pointcloud"
    datasets = ["carphone"]     # registry names (``nmc datasets list``) or file paths
    frames = 30                 # video only
    metric = "psnr_yuv"         # the quality axis of BD tables and plots
    reference = "x265"          # the codec every BD-rate is measured against

    [[codec]]
    name = "x265"
    anchor = "x265"             # PyAV anchor (x264 | x265 | svtav1); preset / params optional
    rates = [22, 27, 32, 37, 42, 47]

    [[codec]]
    name = "nmc"
    codec = "video"             # this project's codec, through nmc.encode / nmc.decode
    rate_option = "quality"
    rates = [2, 4, 6, 8]
    options = { device = "cpu" }

Codec entries name exactly one source of points: ``anchor`` (video anchors through PyAV),
``codec`` (an nmc codec), ``tmc3 = true`` (G-PCC reference software, needs ``--tmc3 PATH``) or
``points = "file.jsonl"`` (precomputed points, e.g. published anchor results: a path, relative to
the recipe's folder, or a dataset registry name such as ``tmc13-osd``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nmc.errors import InputError

KINDS = ("video", "pointcloud")
SOURCES = ("anchor", "codec", "tmc3", "points")
_DEFAULT_RATE_OPTION = {"anchor": "crf", "codec": "quality", "tmc3": "qp", "points": "qp"}


@dataclass(frozen=True)
class CodecConfig:
    """One codec configuration of a campaign.

    Attributes:
        name: label in results, tables and plots (unique within a recipe).
        source: ``"anchor"``, ``"codec"``, ``"tmc3"`` or ``"points"``.
        target: anchor name, nmc codec name, or points file path ("" for tmc3).
        rate_option: the option the rate ladder sets (``crf``, ``quality``, ``qp``).
        rates: the rate ladder, one point per value.
        options: further settings as sorted ``(name, value)`` pairs (preset / params for
            anchors, codec options for nmc codecs, extra command-line flags for tmc3).
    """

    name: str
    source: str
    target: str
    rate_option: str
    rates: tuple[int | float, ...]
    options: tuple[tuple[str, Any], ...] = ()

    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def fingerprint(self) -> str:
        """Hash of everything but the ladder: a changed setting invalidates cached points."""
        text = json.dumps(
            [self.name, self.source, self.target, self.rate_option, self.options],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Recipe:
    """A campaign: datasets × codec configurations × rate points.

    Attributes:
        kind: ``"video"`` or ``"pointcloud"``.
        datasets: registry names or paths.
        codecs: the configurations, in report order.
        reference: name of the codec BD-rates are measured against.
        metric: quality field of a point used for BD tables and plots (``psnr_yuv``).
        frames, start: video frames to code (ignored for point clouds).
        path: the file the recipe came from (``None`` for a built-in recipe).
    """

    kind: str
    datasets: tuple[str, ...]
    codecs: tuple[CodecConfig, ...]
    reference: str
    metric: str = "psnr_yuv"
    frames: int = 30
    start: int = 0
    path: Path | None = field(default=None, compare=False)

    def with_overrides(
        self, datasets: tuple[str, ...] | None = None, frames: int | None = None
    ) -> Recipe:
        """A copy with the command line's ``--data`` / ``--frames`` applied."""
        return replace(
            self,
            datasets=datasets or self.datasets,
            frames=self.frames if frames is None else frames,
        )


def _codec(entry: dict[str, Any], base: Path | None, where: str) -> CodecConfig:
    given = [key for key in SOURCES if key in entry]
    if len(given) != 1:
        raise InputError(
            f"{where}: set exactly one of {', '.join(SOURCES)} (got {given or 'none'})"
        )
    source = given[0]
    target = entry[source]
    if source == "tmc3":
        if target is not True:
            raise InputError(f"{where}: write tmc3 = true (the binary comes from --tmc3 PATH)")
        target = ""
    elif not isinstance(target, str) or not target:
        raise InputError(f"{where}: {source} must be a non-empty string")
    elif source == "points" and base is not None and (base / target).is_file():
        target = str((base / target).resolve())
    rates = entry.get("rates")
    if (
        not isinstance(rates, list)
        or not rates
        or not all(isinstance(r, (int, float)) and not isinstance(r, bool) for r in rates)
    ):
        raise InputError(f"{where}: rates must be a non-empty list of numbers")
    options = dict(entry.get("options", {}))
    for key in ("preset", "params"):
        if key in entry:
            options[key] = entry[key]
    unknown = set(entry) - {source, "name", "rates", "rate_option", "options", "preset", "params"}
    if unknown:
        raise InputError(f"{where}: unknown keys {sorted(unknown)}")
    return CodecConfig(
        name=str(entry.get("name", target or source)),
        source=source,
        target=target,
        rate_option=str(entry.get("rate_option", _DEFAULT_RATE_OPTION[source])),
        rates=tuple(rates),
        options=tuple(sorted(options.items())),
    )


def parse_recipe(text: str, path: Path | None = None) -> Recipe:
    """Parse recipe TOML ``text``; ``path`` names it in errors and anchors relative paths."""
    where = str(path) if path else "recipe"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{where}: not valid TOML ({exc})") from exc
    kind = data.get("kind")
    if kind not in KINDS:
        raise InputError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    entries = data.get("codec", [])
    if not entries:
        raise InputError(f"{where}: no [[codec]] entries")
    base = path.parent if path else None
    codecs = tuple(_codec(e, base, f"{where} codec #{i + 1}") for i, e in enumerate(entries))
    names = [c.name for c in codecs]
    if len(set(names)) != len(names):
        raise InputError(f"{where}: codec names must be unique, got {names}")
    reference = data.get("reference", names[0])
    if reference not in names:
        raise InputError(f"{where}: reference {reference!r} is not one of the codecs {names}")
    frames, start = data.get("frames", 30), data.get("start", 0)
    if not (isinstance(frames, int) and frames >= 1 and isinstance(start, int) and start >= 0):
        raise InputError(f"{where}: frames must be an integer >= 1 and start >= 0")
    return Recipe(
        kind=kind,
        datasets=tuple(str(d) for d in data.get("datasets", ())),
        codecs=codecs,
        reference=reference,
        metric=str(data.get("metric", "psnr_yuv")),
        frames=frames,
        start=start,
        path=path,
    )


def load_recipe(path: str | Path) -> Recipe:
    """Read and parse a recipe file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read recipe ({exc.strerror})") from exc
    return parse_recipe(text, path.resolve())


def default_recipe(kind: str) -> Recipe:
    """The built-in recipe for ``kind`` (``nmc/eval/recipes/<kind>.toml``)."""
    if kind not in KINDS:
        raise InputError(f"unknown campaign kind {kind!r}; choose one of {', '.join(KINDS)}")
    text = importlib.resources.files("nmc.eval").joinpath(f"recipes/{kind}.toml").read_text()
    return parse_recipe(text)
