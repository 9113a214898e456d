"""The decoder's post-filter hook.

A post-filter takes a :class:`~nmc.pointcloud.cloud.DecodedCloud` and returns cleaned colours
(uint8 ``[N, 3]``, same point order). The codec never imports a filter itself: it looks the
name up in :data:`HOOKS` (``"module:function"``, imported on first use) and calls
``function(decoded, device=..., progress=...)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

from nmc.errors import DependencyError, InputError
from nmc.pointcloud.cloud import DecodedCloud
from nmc.pointcloud.header import POSTFILTERS

# Post-filter name -> "module:function"; a name of POSTFILTERS missing here is not installed.
HOOKS: dict[str, str] = {"msgat": "nmc.pointcloud.msgat.filter:filter_decoded"}


def resolve(name: str) -> Callable[..., np.ndarray] | None:
    """The hook of post-filter ``name`` (None for ``"none"``).

    Raises :class:`InputError` for an unknown name and :class:`DependencyError` when the
    filter is known but not available in this installation.
    """
    if name not in POSTFILTERS:
        raise InputError(f"unknown post-filter {name!r}; choose one of {', '.join(POSTFILTERS)}")
    if name == "none":
        return None
    if name not in HOOKS:
        raise DependencyError(f"the {name} post-filter is not available in this installation")
    module, _, function = HOOKS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def apply(
    name: str, decoded: DecodedCloud, device: str = "cpu", progress: bool = False
) -> np.ndarray:
    """Colours (uint8 ``[N, 3]``) of ``decoded`` after post-filter ``name``."""
    hook = resolve(name)
    if hook is None:
        return decoded.rgb
    rgb = np.asarray(hook(decoded, device=device, progress=progress))
    if rgb.shape != decoded.rgb.shape or rgb.dtype != np.uint8:
        raise DependencyError(
            f"post-filter {name} returned {rgb.dtype} {rgb.shape}, expected uint8 "
            f"{decoded.rgb.shape}"
        )
    return rgb
