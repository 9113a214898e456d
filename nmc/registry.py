"""The codec registry: codec id <-> codec module, like libavcodec's table of codecs.

A codec module (``nmc/<codec>/codec.py``) provides ``CODEC_ID``, ``NAME``, ``INPUT_SUFFIXES``,
``OPTIONS``, ``accepts(source)``, ``encode(source, **options) -> (file bytes, report)``,
``decode(container, **options) -> (media, report)``, ``write_output(media, path, **options)``
and ``describe(container) -> dict``; its light ``descriptor.py`` holds what the registry and
the command line need before any coding (name, id, input suffixes, options). A codec module is
imported only when it codes or describes a file, so ``import nmc``, the ``nmc`` command's
parser and ``nmc info`` stay light (the video codec imports torch).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from nmc.errors import BitstreamError, InputError

_DESCRIPTORS = {"video": "nmc.video.descriptor", "pointcloud": "nmc.pointcloud.descriptor"}


def descriptors() -> dict[str, ModuleType]:
    """Codec name -> descriptor module (``NAME``, ``CODEC_ID``, ``INPUT_SUFFIXES``,
    ``OPTIONS``, ``CODEC_MODULE``) of the codecs installed here; imports no codec."""
    out = {}
    for name, path in _DESCRIPTORS.items():
        try:
            out[name] = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name is not None and path.startswith(exc.name):
                continue
            raise
    return out


def _codec(descriptor: ModuleType) -> ModuleType:
    return importlib.import_module(descriptor.CODEC_MODULE)


def by_name(name: str) -> ModuleType:
    """The codec module called ``name`` (``"video"``, ``"pointcloud"``); only it is imported."""
    known = descriptors()
    if name not in known:
        raise InputError(f"unknown codec {name!r}; known: {', '.join(sorted(known)) or 'none'}")
    return _codec(known[name])


def by_id(codec_id: int) -> ModuleType:
    """The codec module of a file's codec id; only it is imported."""
    for descriptor in descriptors().values():
        if codec_id == descriptor.CODEC_ID:
            return _codec(descriptor)
    raise BitstreamError(
        f"codec id {codec_id} is not known to this nmc (file from a newer release?)"
    )


def for_source(source: object) -> ModuleType:
    """The codec that takes ``source``: a path by its suffix (only that codec is imported), an
    in-memory object by asking each codec's ``accepts``."""
    known = descriptors().values()
    if isinstance(source, (str, Path)):
        suffix = Path(source).suffix.lower()
        for descriptor in known:
            if suffix in descriptor.INPUT_SUFFIXES:
                return _codec(descriptor)
        suffixes = sorted({s for d in known for s in d.INPUT_SUFFIXES})
        raise InputError(
            f"{source}: unsupported input type {Path(source).suffix or '(no suffix)'!r}; "
            f"nmc encodes {', '.join(suffixes)}"
        )
    for descriptor in known:
        module = _codec(descriptor)
        if module.accepts(source):
            return module
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
