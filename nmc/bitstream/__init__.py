"""Container format: magic, version, codec id, codec header, CRC-protected chunks; atomic
output files (:mod:`nmc.bitstream.atomic`).

See ``docs/bitstream.md`` for the byte-level specification.
"""

from nmc.bitstream.atomic import (
    AtomicFile,
    AtomicWriter,
    atomic_open,
    atomic_write_bytes,
    check_output,
)
from nmc.bitstream.container import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    MAGIC,
    Chunk,
    ChunkInfo,
    Container,
    ContainerWriter,
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
    "AtomicFile",
    "AtomicWriter",
    "Chunk",
    "ChunkInfo",
    "Container",
    "ContainerWriter",
    "FieldReader",
    "FieldWriter",
    "atomic_open",
    "atomic_write_bytes",
    "check_output",
    "iter_chunks",
    "pack",
    "read_bytes",
    "read_file",
    "read_preamble",
    "unpack",
]
