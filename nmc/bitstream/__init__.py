"""Container format: magic, version, codec id, codec header, CRC-protected chunks.

See ``docs/bitstream.md`` for the byte-level specification.
"""

from nmc.bitstream.container import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    MAGIC,
    AtomicWriter,
    Chunk,
    ChunkInfo,
    Container,
    ContainerWriter,
    atomic_open,
    atomic_write_bytes,
    iter_chunks,
    pack,
    read_bytes,
    read_file,
    read_preamble,
    unpack,
)
from nmc.bitstream.fields import FieldReader, FieldWriter

__all__ = [
    "FORMAT_MAJOR",
    "FORMAT_MINOR",
    "MAGIC",
    "AtomicWriter",
    "Chunk",
    "ChunkInfo",
    "Container",
    "ContainerWriter",
    "FieldReader",
    "FieldWriter",
    "atomic_open",
    "atomic_write_bytes",
    "iter_chunks",
    "pack",
    "read_bytes",
    "read_file",
    "read_preamble",
    "unpack",
]
