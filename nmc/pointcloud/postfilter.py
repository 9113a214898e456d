"""The codec's post-filter hooks: decoder-side filtering and encoder-side adaptation.

A post-filter takes a :class:`~nmc.pointcloud.cloud.DecodedCloud` and returns cleaned colours
(uint8 ``[N, 3]``, same point order). The codec never imports a filter itself: it looks the
name up in :data:`HOOKS` (``"module:function"``, imported on first use) and calls
``function(decoded, device=..., progress=..., update=..., version=...)``, which returns None
when the filter has no model for that stream version. Encoders look up :data:`ADAPTERS` and
call ``function(decoded, original, device=..., progress=..., network=...)``, which returns an
object with
``kind`` (``"none"`` switches the filter off for this stream), ``payload`` (the update bytes
the stream carries), ``gain_db`` and ``seconds``, or None when no model is installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from nmc.errors import DependencyError, InputError
from nmc.pointcloud.cloud import DecodedCloud
from nmc.pointcloud.header import POSTFILTERS, VERSION

# Post-filter name -> "module:function"; a name of POSTFILTERS missing here is not installed.
HOOKS: dict[str, str] = {"msgat": "nmc.pointcloud.msgat.filter:filter_decoded"}
ADAPTERS: dict[str, str] = {"msgat": "nmc.pointcloud.msgat.adapt:adapt_stream"}
# First byte of a non-empty filter update payload (nmc.pointcloud.msgat.update).
SCALARS_UPDATE = 1
HEAD_UPDATE = 2
CHANNELS_UPDATE = 3
NETWORK_UPDATE = 4


def update_kind(payload: bytes) -> str:
    """Kind of a stream's filter update: ``shipped`` (empty), ``scalars``, ``head``,
    ``channels`` or ``network``."""
    if not payload:
        return "shipped"
    kinds = {
        SCALARS_UPDATE: "scalars",
        HEAD_UPDATE: "head",
        CHANNELS_UPDATE: "channels",
        NETWORK_UPDATE: "network",
    }
    return kinds.get(payload[0], "unknown")


def _load(table: dict[str, str], name: str) -> Callable[..., Any] | None:
    if name not in POSTFILTERS:
        raise InputError(f"unknown post-filter {name!r}; choose one of {', '.join(POSTFILTERS)}")
    if name == "none":
        return None
    if name not in table:
        raise DependencyError(f"the {name} post-filter is not available in this installation")
    module, _, function = table[name].partition(":")
    return getattr(importlib.import_module(module), function)


def resolve(name: str) -> Callable[..., np.ndarray | None] | None:
    """The decoder hook of post-filter ``name`` (None for ``"none"``).

    Raises :class:`InputError` for an unknown name and :class:`DependencyError` when the
    filter is known but not available in this installation.
    """
    return _load(HOOKS, name)


def apply(
    name: str,
    decoded: DecodedCloud,
    device: str = "cpu",
    progress: bool = False,
    update: bytes = b"",
    version: int = VERSION,
) -> np.ndarray | None:
    """Colours (uint8 ``[N, 3]``) of ``decoded`` after post-filter ``name``.

    Args:
        name: a name of :data:`POSTFILTERS`.
        decoded: the decoded cloud.
        device, progress: passed to the filter.
        update: the stream's per-cloud filter update (bytes of the attribute chunk).
        version: the stream's codec version (selects the filter's weights).

    Returns:
        The filtered colours, ``decoded.rgb`` itself for ``"none"``, or None when the filter
        has no model for streams of ``version``.
    """
    hook = resolve(name)
    if hook is None:
        return decoded.rgb
    rgb = hook(decoded, device=device, progress=progress, update=update, version=version)
    if rgb is None:
        return None
    rgb = np.asarray(rgb)
    if rgb.shape != decoded.rgb.shape or rgb.dtype != np.uint8:
        raise DependencyError(
            f"post-filter {name} returned {rgb.dtype} {rgb.shape}, expected uint8 "
            f"{decoded.rgb.shape}"
        )
    return rgb


def adapt(
    name: str,
    decoded: DecodedCloud,
    original: np.ndarray,
    device: str = "cpu",
    progress: bool = False,
    network: bool = True,
) -> Any:
    """The encoder's per-cloud choice for post-filter ``name`` (None: nothing to adapt).

    Args:
        decoded: the cloud as the decoder will rebuild it (before filtering).
        original: ``[N, 3]`` uint8 source colours in the decoded order.
        network: whether the update may also step the filter's network.
    """
    hook = _load(ADAPTERS, name)
    if hook is None:
        return None
    return hook(decoded, original, device=device, progress=progress, network=network)
