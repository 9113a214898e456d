"""The codec registry: codec id <-> codec module, like libavcodec's table of codecs.

A codec module (``nmc/<codec>/codec.py``) provides ``CODEC_ID``, ``NAME``, ``INPUT_SUFFIXES``,
``OPTIONS``, ``accepts(source)``, ``encode(source, **options) -> (file bytes, report)``,
``decode(container, **options) -> (media, report)``, ``write_output(media, path, **options)``
and ``describe(container) -> dict``. Modules are imported on first use so that ``import nmc``
stays light.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from nmc.errors import BitstreamError, InputError

_MODULES = {"video": "nmc.video.codec", "pointcloud": "nmc.pointcloud.codec"}


def available() -> dict[str, ModuleType]:
    """Codec name -> module, for the codecs whose modules import in this installation."""
    out = {}
    for name, path in _MODULES.items():
        try:
            out[name] = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name is not None and path.startswith(exc.name):
                continue
            raise
    return out


def by_name(name: str) -> ModuleType:
    codecs = available()
    if name not in codecs:
        raise InputError(f"unknown codec {name!r}; known: {', '.join(sorted(codecs)) or 'none'}")
    return codecs[name]


def by_id(codec_id: int) -> ModuleType:
    for module in available().values():
        if codec_id == module.CODEC_ID:
            return module
    raise BitstreamError(
        f"codec id {codec_id} is not known to this nmc (file from a newer release?)"
    )


def for_source(source: object) -> ModuleType:
    """The codec that takes ``source`` (a path, judged by suffix, or an in-memory object)."""
    codecs = available()
    for module in codecs.values():
        if module.accepts(source):
            return module
    if isinstance(source, (str, Path)):
        suffixes = sorted({s for m in codecs.values() for s in m.INPUT_SUFFIXES})
        raise InputError(
            f"{source}: unsupported input type {Path(source).suffix or '(no suffix)'!r}; "
            f"nmc encodes {', '.join(suffixes)}"
        )
    raise InputError(
        f"cannot encode an object of type {type(source).__name__}; pass a file path, a uint8 "
        "video array [T,H,W,3] or a nmc.pointcloud.PointCloud"
    )


def check_options(
    options: dict[str, Any], allowed: set[str], what: str, integers: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The options that were given (None values dropped), checked against ``allowed``.

    ``what`` names the operation in the error (e.g. ``"video encoding"``); the options named in
    ``integers`` must be integers. Raises :class:`InputError`.
    """
    given = {k: v for k, v in options.items() if v is not None}
    wrong = sorted(set(given) - allowed)
    if wrong:
        raise InputError(f"option(s) {', '.join(wrong)} do not apply to {what}")
    for name in integers & set(given):
        value = given[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InputError(f"{name} must be an integer, got {value!r}")
    return given
