"""The nmc container: magic, format version, codec id, codec header, then CRC-protected chunks.

Layout (all integers little-endian; the full specification is ``docs/bitstream.md``)::

    file    := preamble chunk* end
    preamble:= magic[4]="\\x89NMC" major:u8 minor:u8 codec_id:u16 header_len:u32
               header[header_len] header_crc:u32          # CRC32 of major..header
    chunk   := kind[4] (ASCII) length:u32 payload[length] crc:u32   # CRC32 of kind..payload
    end     := chunk with kind "END " and length 0

The container never interprets codec headers or payloads: a codec is only an id here.
A reader rejects bad magic, unknown major versions, CRC mismatches, lengths beyond the end of
the data and missing end chunks with :class:`~nmc.errors.BitstreamError` naming the chunk.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nmc.bitstream.atomic import AtomicWriter, atomic_open
from nmc.errors import BitstreamError, InputError

MAGIC = b"\x89NMC"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
END_KIND = "END "
MAX_HEADER_BYTES = 1 << 20
_PREAMBLE = struct.Struct("<4sBBHI")
_CHUNK_HEAD = struct.Struct("<4sI")
_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class Chunk:
    """One chunk: a four-character ASCII ``kind`` and its ``payload``."""

    kind: str
    payload: bytes


@dataclass(frozen=True)
class ChunkInfo:
    """Where a chunk sits: ``offset`` of its kind field and ``size`` of its payload, in bytes."""

    index: int
    kind: str
    offset: int
    size: int


@dataclass(frozen=True)
class Container:
    """A whole parsed file: version, codec id, codec header and chunks in file order."""

    major: int
    minor: int
    codec_id: int
    header: bytes
    chunks: tuple[Chunk, ...]
    table: tuple[ChunkInfo, ...]
    total_bytes: int


def _check_kind(kind: str) -> bytes:
    raw = kind.encode("ascii", errors="replace")
    if len(raw) != 4 or not all(32 <= b < 127 for b in raw):
        raise ValueError(f"chunk kind must be 4 printable ASCII characters, got {kind!r}")
    return raw


def pack_preamble(codec_id: int, header: bytes) -> bytes:
    """Bytes of the preamble for ``codec_id`` (0..65535) and the codec ``header``."""
    if not 0 <= codec_id < 1 << 16:
        raise ValueError(f"codec id must fit in 16 bits, got {codec_id}")
    if len(header) > MAX_HEADER_BYTES:
        raise ValueError(f"codec header is {len(header)} bytes, limit {MAX_HEADER_BYTES}")
    body = _PREAMBLE.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, codec_id, len(header)) + header
    return body + _CRC.pack(zlib.crc32(body[4:]))


def pack_chunk(kind: str, payload: bytes) -> bytes:
    """Bytes of one chunk (kind, length, payload, CRC32)."""
    if len(payload) >= 1 << 32:
        raise ValueError("chunk payload must be smaller than 4 GiB")
    body = _CHUNK_HEAD.pack(_check_kind(kind), len(payload)) + payload
    return body + _CRC.pack(zlib.crc32(body))


def pack(codec_id: int, header: bytes, chunks: list[Chunk] | tuple[Chunk, ...]) -> bytes:
    """A complete file in memory."""
    parts = [pack_preamble(codec_id, header)]
    parts.extend(pack_chunk(c.kind, c.payload) for c in chunks)
    parts.append(pack_chunk(END_KIND, b""))
    return b"".join(parts)


class ContainerWriter(AtomicWriter):
    """Streams chunks to ``path``; the file appears only when :meth:`close` succeeds.

    Writes go to a temporary file beside ``path`` that is renamed into place on close, so an
    interrupted encode never leaves a partial file under the final name. Use as a context
    manager: leaving the block with an exception discards the temporary file.
    """

    def __init__(self, path: str | os.PathLike[str], codec_id: int, header: bytes) -> None:
        self.path = Path(path)
        self._file = atomic_open(self.path)
        self._file.write(pack_preamble(codec_id, header))
        self.bytes_written = self._file.tell()

    def write_chunk(self, kind: str, payload: bytes) -> None:
        data = pack_chunk(kind, payload)
        self._file.write(data)
        self.bytes_written += len(data)

    def close(self) -> None:
        self.write_chunk(END_KIND, b"")
        self._file.commit()

    def abort(self) -> None:
        self._file.discard()


def _crc_ok(body: bytes | memoryview, crc_bytes: bytes | memoryview) -> bool:
    return zlib.crc32(body) == _CRC.unpack(crc_bytes)[0]


class _Source:
    """Random access to the bytes of a file held in memory or open for reading."""

    def __init__(self, data: bytes | memoryview | BinaryIO) -> None:
        if isinstance(data, (bytes, bytearray, memoryview)):
            self._view: memoryview | None = memoryview(data)
            self._file = None
            self.size = len(self._view)
        else:
            self._view = None
            self._file = data
            self.size = data.seek(0, os.SEEK_END)

    def read(self, offset: int, count: int) -> bytes | memoryview:
        """``count`` bytes at ``offset``; callers check the range against :attr:`size` first."""
        if self._view is not None:
            return self._view[offset : offset + count]
        self._file.seek(offset)
        return self._file.read(count)


def iter_chunks(data: bytes | memoryview | BinaryIO) -> Iterator[tuple[ChunkInfo, Chunk]]:
    """Validate the preamble of ``data`` then yield each chunk with its table entry, in order.

    ``data`` is the whole file in memory or a binary file opened for reading (then chunks are
    read one at a time, so a long video streams in constant memory). Raises
    :class:`BitstreamError` on the first problem, naming the chunk. The end chunk is checked
    but not yielded. Use :func:`read_preamble` for the version and header.
    """
    source = _Source(data)
    _, _, _, _, pos = _parse_preamble(source)
    index = 0
    while True:
        if source.size - pos < _CHUNK_HEAD.size:
            raise BitstreamError(
                f"chunk {index}: file truncated at byte {pos} (no end chunk; file cut short?)"
            )
        raw_kind, length = _CHUNK_HEAD.unpack(source.read(pos, _CHUNK_HEAD.size))
        kind = raw_kind.decode("latin-1")
        name = f"chunk {index} ({kind!r})"
        if not all(32 <= b < 127 for b in raw_kind):
            raise BitstreamError(f"{name} at byte {pos}: kind is not ASCII (damaged chunk table)")
        whole = _CHUNK_HEAD.size + length + _CRC.size
        if pos + whole > source.size:
            raise BitstreamError(
                f"{name} at byte {pos}: declares {length} payload bytes, more than the "
                f"{source.size - pos} bytes left (truncated or damaged)"
            )
        raw = source.read(pos, whole)
        if not _crc_ok(raw[: whole - _CRC.size], raw[whole - _CRC.size :]):
            raise BitstreamError(f"{name} at byte {pos}: CRC mismatch (the chunk is damaged)")
        info = ChunkInfo(index=index, kind=kind, offset=pos, size=length)
        pos += whole
        if kind == END_KIND:
            if length:
                raise BitstreamError(f"{name}: end chunk must be empty")
            if pos != source.size:
                raise BitstreamError(f"{source.size - pos} bytes after the end chunk (damaged)")
            return
        yield info, Chunk(kind, bytes(raw[_CHUNK_HEAD.size : _CHUNK_HEAD.size + length]))
        index += 1


def _parse_preamble(source: _Source) -> tuple[int, int, int, bytes, int]:
    head = source.read(0, _PREAMBLE.size)
    if len(head) < _PREAMBLE.size or bytes(head[:4]) != MAGIC:
        raise BitstreamError("not an nmc file (bad magic; expected a file written by `nmc encode`)")
    _, major, minor, codec_id, header_len = _PREAMBLE.unpack(head)
    if major != FORMAT_MAJOR:
        raise BitstreamError(
            f"format version {major}.{minor} is not supported by this nmc "
            f"(reads {FORMAT_MAJOR}.x); use a matching nmc release"
        )
    end = _PREAMBLE.size + header_len
    if header_len > MAX_HEADER_BYTES or end + _CRC.size > source.size:
        raise BitstreamError(f"codec header: declares {header_len} bytes, file too short")
    raw = source.read(0, end + _CRC.size)
    if not _crc_ok(raw[4:end], raw[end:]):
        raise BitstreamError("codec header: CRC mismatch (the file header is damaged)")
    return major, minor, codec_id, bytes(raw[_PREAMBLE.size : end]), end + _CRC.size


def read_preamble(data: bytes | memoryview | BinaryIO) -> tuple[int, int, int, bytes]:
    """``(major, minor, codec_id, header)`` of ``data``; raises :class:`BitstreamError`."""
    major, minor, codec_id, header, _ = _parse_preamble(_Source(data))
    return major, minor, codec_id, header


def unpack(data: bytes | memoryview) -> Container:
    """Parse and validate a whole file held in memory."""
    major, minor, codec_id, header = read_preamble(data)
    table, chunks = [], []
    for info, chunk in iter_chunks(data):
        table.append(info)
        chunks.append(chunk)
    return Container(major, minor, codec_id, header, tuple(chunks), tuple(table), len(data))


def read_file(path: str | os.PathLike[str]) -> Container:
    """Read and validate the file at ``path``; missing files are an :class:`InputError`."""
    return unpack(read_bytes(path))


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of ``path``, with a clear :class:`InputError` when it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror})") from exc
