"""MS-GAT: multi-scale graph attention post-filter for decoded point-cloud colours.

Decoder entry point::

    postfilter = nmc.pointcloud.msgat.load_default()   # None when no weights are shipped
    rgb = postfilter.apply(xyz, rgb, step, device="cpu")

Training: ``nmc train msgat --data DIR -o model.pt`` (:mod:`nmc.pointcloud.msgat.train`).

The names below load on first use, so that the ``nmc`` command can import this package's
CLI plugin (:mod:`nmc.pointcloud.msgat.commands`) without importing torch.
"""

from __future__ import annotations

from nmc._lazy import lazy_exports

_EXPORTS = {
    "MSGAT": "nmc.pointcloud.msgat.model",
    "ModelConfig": "nmc.pointcloud.msgat.config",
    "PatchConfig": "nmc.pointcloud.msgat.config",
    "PostFilter": "nmc.pointcloud.msgat.filter",
    "StepGating": "nmc.pointcloud.msgat.gating",
    "load_default": "nmc.pointcloud.msgat.filter",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
