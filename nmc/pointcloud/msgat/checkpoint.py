"""Weights files of the post-filter: network shape, parameters, gating and training record.

A weights file is a ``torch.save`` of plain containers (loadable with ``weights_only=True``)::

    {"format": "nmc-msgat", "version": 1, "model": ModelConfig dict,
     "patches": PatchConfig dict, "gating": StepGating dict,
     "state_dict": {name: tensor}, "record": JSON-able training record}
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch

from nmc.bitstream import atomic_write_bytes
from nmc.errors import InputError
from nmc.pointcloud.msgat.config import ModelConfig, PatchConfig
from nmc.pointcloud.msgat.gating import StepGating
from nmc.pointcloud.msgat.model import MSGAT

FORMAT = "nmc-msgat"
VERSION = 1


def save_weights(
    path: str | os.PathLike[str],
    model: MSGAT,
    gating: StepGating,
    patches: PatchConfig,
    record: dict,
) -> None:
    """Write a weights file atomically (float32 parameters, a few hundred KB).

    ``record`` must be JSON-able; it is stored as plain JSON types (dict keys become
    strings) so that ``torch.load(weights_only=True)`` reads it back.
    """
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": model.config.to_dict(),
        "patches": asdict(patches),
        "gating": gating.to_dict(),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "record": json.loads(json.dumps(record)),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_weights(path: str | os.PathLike[str]) -> tuple[MSGAT, StepGating, PatchConfig, dict]:
    """Read a weights file written by :func:`save_weights`.

    Returns:
        ``(model, gating, patch_config, record)``; the model is in eval mode on the CPU.

    Raises:
        InputError: the file is missing, not a weights file, of another version, or its
            parameters do not fit the network it describes.
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such MS-GAT weights file") from exc
    except Exception as exc:  # torch raises many types on damaged pickles/zips
        raise InputError(f"{path}: not a readable MS-GAT weights file ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path}: not an MS-GAT weights file (format tag missing)")
    if payload.get("version") != VERSION:
        raise InputError(
            f"{path}: weights file version {payload.get('version')} is not supported "
            f"(this nmc reads version {VERSION}); retrain or upgrade nmc"
        )
    try:
        model = MSGAT(ModelConfig.from_dict(payload["model"]))
        model.load_state_dict(payload["state_dict"])
        gating = StepGating.from_dict(payload["gating"])
        patches = PatchConfig(**payload["patches"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path}: inconsistent MS-GAT weights file ({exc})") from exc
    model.eval()
    return model, gating, patches, dict(payload.get("record", {}))
