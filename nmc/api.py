"""The public Python API: :func:`encode`, :func:`decode`, :func:`info`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nmc import registry
from nmc.bitstream import (
    Container,
    atomic_write_bytes,
    iter_chunks,
    read_bytes,
    read_preamble,
    unpack,
)
from nmc.errors import BitstreamError

PathLike = str | os.PathLike[str]


def encode(source: object, output: PathLike | None = None, **options: Any) -> bytes | Path:
    """Encode ``source`` (a media file path or an in-memory array / point cloud).

    The codec is chosen from the input type. ``options`` are codec options such as
    ``quality`` (1..8), ``qp``, ``frames``. Returns the ``.nmc`` file bytes, or ``output`` as a
    :class:`~pathlib.Path` after writing it atomically when ``output`` is given.
    """
    data, _ = encode_with_report(source, **options)
    if output is None:
        return data
    atomic_write_bytes(output, data)
    return Path(output)


def encode_with_report(
    source: object, codec_name: str | None = None, **options: Any
) -> tuple[bytes, dict[str, Any]]:
    """Like :func:`encode` but also returns the codec's report (sizes, quality, timings).

    ``codec_name`` forces a codec instead of choosing it from the input type.
    """
    codec = registry.by_name(codec_name) if codec_name else registry.for_source(source)
    data, report = codec.encode(source, **options)
    return data, {"codec": codec.NAME, "bytes": len(data), **report}


def _container(source: bytes | PathLike | Container) -> Container:
    if isinstance(source, Container):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return unpack(bytes(source))
    return unpack(read_bytes(source))


def decode(source: bytes | PathLike, output: PathLike | None = None, **options: Any) -> Any:
    """Decode a ``.nmc`` file (bytes or path).

    Returns the decoded media — video: a :class:`nmc.video.Video` (8-bit 4:2:0 planes, kept
    lossless for ``.y4m`` output; ``np.asarray(video)`` is RGB ``uint8 [T,H,W,3]``); point
    cloud: a :class:`nmc.pointcloud.DecodedCloud` (``xyz int32 [N,3]``, ``rgb uint8 [N,3]``,
    per-point ``step``) — or writes it to ``output`` (format from the suffix) and returns the
    path.
    """
    container = _container(source)
    media, _ = decode_with_report(container, **options)
    if output is None:
        return media
    registry.by_id(container.codec_id).write_output(media, Path(output), **options)
    return Path(output)


def decode_with_report(source: bytes | PathLike | Container, **options: Any) -> tuple[Any, dict]:
    """Like :func:`decode` (no output file) but also returns the codec's report."""
    container = _container(source)
    codec = registry.by_id(container.codec_id)
    media, report = codec.decode(container, **options)
    return media, {"codec": codec.NAME, **report}


def info(source: bytes | PathLike) -> dict[str, Any]:
    """Header and chunk table of a ``.nmc`` file, like ffprobe: a JSON-able dict.

    A damaged file still reports its preamble and the chunks before the damage, plus an
    ``error`` entry naming the damaged chunk; a file whose preamble is unreadable raises
    :class:`~nmc.errors.BitstreamError`.
    """
    data = source if isinstance(source, (bytes, bytearray, memoryview)) else read_bytes(source)
    major, minor, codec_id, header = read_preamble(data)
    out: dict[str, Any] = {
        "format_version": f"{major}.{minor}",
        "codec_id": codec_id,
        "bytes": len(data),
        "header_bytes": len(header),
        "chunks": [],
    }
    table, chunks = [], []
    try:
        for entry, chunk in iter_chunks(data):
            table.append(entry)
            chunks.append(chunk)
            out["chunks"].append(
                {
                    "index": entry.index,
                    "kind": entry.kind,
                    "offset": entry.offset,
                    "bytes": entry.size,
                }
            )
    except BitstreamError as exc:
        out["error"] = str(exc)
        return out
    try:
        codec = registry.by_id(codec_id)
    except BitstreamError as exc:
        out["codec"] = f"unknown (id {codec_id})"
        out["error"] = str(exc)
        return out
    out["codec"] = codec.NAME
    container = Container(major, minor, codec_id, header, tuple(chunks), tuple(table), len(data))
    out.update(codec.describe(container))
    return out


__all__ = ["encode", "encode_with_report", "decode", "decode_with_report", "info"]
