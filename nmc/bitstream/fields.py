"""Fixed-width and variable-length fields for headers and chunk payloads.

:class:`FieldWriter` appends little-endian fields to a byte buffer; :class:`FieldReader` reads
them back and raises :class:`~nmc.errors.BitstreamError` (never ``struct.error`` or
``IndexError``) when the bytes run out or a value is out of its declared range. Lengths read
from a stream are always checked against the bytes that remain before anything is allocated.
"""

from __future__ import annotations

import struct

import numpy as np

from nmc.errors import BitstreamError

_MAX_VARINT_BYTES = 10


class FieldWriter:
    """Appends fields to a growing byte buffer; :meth:`getvalue` returns the bytes."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, value: int) -> FieldWriter:
        self._parts.append(struct.pack("<B", value))
        return self

    def u16(self, value: int) -> FieldWriter:
        self._parts.append(struct.pack("<H", value))
        return self

    def u32(self, value: int) -> FieldWriter:
        self._parts.append(struct.pack("<I", value))
        return self

    def i32(self, value: int) -> FieldWriter:
        self._parts.append(struct.pack("<i", value))
        return self

    def f32(self, value: float) -> FieldWriter:
        self._parts.append(struct.pack("<f", value))
        return self

    def f64(self, value: float) -> FieldWriter:
        self._parts.append(struct.pack("<d", value))
        return self

    def uvarint(self, value: int) -> FieldWriter:
        """Unsigned LEB128 integer (7 bits per byte, high bit = more), at most 64 bits."""
        if value < 0 or value >= 1 << 64:
            raise ValueError(f"uvarint takes 0 <= value < 2**64, got {value}")
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
        self._parts.append(bytes(out))
        return self

    def svarint(self, value: int) -> FieldWriter:
        """Signed integer, zigzag-mapped then written as :meth:`uvarint`."""
        return self.uvarint((value << 1) if value >= 0 else ((-value << 1) - 1))

    def blob(self, data: bytes) -> FieldWriter:
        """Length-prefixed (uvarint) raw bytes."""
        self.uvarint(len(data))
        self._parts.append(bytes(data))
        return self

    def text(self, value: str) -> FieldWriter:
        """Length-prefixed UTF-8 string."""
        return self.blob(value.encode("utf-8"))

    def raw(self, data: bytes) -> FieldWriter:
        """Bytes with no length prefix (the reader must know how many)."""
        self._parts.append(bytes(data))
        return self

    def array(self, values: np.ndarray, dtype: str) -> FieldWriter:
        """A 1-D array as a uvarint count followed by little-endian ``dtype`` items."""
        flat = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<")).ravel()
        self.uvarint(flat.size)
        self._parts.append(flat.tobytes())
        return self

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class FieldReader:
    """Reads the fields written by :class:`FieldWriter` from ``data``.

    ``what`` names the structure being read (e.g. ``"chunk 3 (PFRM)"``) and appears in every error.
    """

    def __init__(self, data: bytes | memoryview, what: str = "payload") -> None:
        self._data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        self._pos = 0
        self.what = what

    @property
    def remaining(self) -> int:
        """Bytes not yet read."""
        return len(self._data) - self._pos

    def _take(self, n: int) -> bytes:
        if n < 0 or n > self.remaining:
            raise BitstreamError(
                f"{self.what}: truncated (needs {n} more bytes at offset {self._pos}, "
                f"{self.remaining} left)"
            )
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return out

    def u8(self) -> int:
        return self._take(1)[0]

    def u16(self) -> int:
        return struct.unpack("<H", self._take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self._take(4))[0]

    def i32(self) -> int:
        return struct.unpack("<i", self._take(4))[0]

    def f32(self) -> float:
        return struct.unpack("<f", self._take(4))[0]

    def f64(self) -> float:
        return struct.unpack("<d", self._take(8))[0]

    def uvarint(self) -> int:
        value = 0
        for i in range(_MAX_VARINT_BYTES):
            byte = self.u8()
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if value >= 1 << 64:
                    break
                return value
        raise BitstreamError(f"{self.what}: malformed variable-length integer")

    def svarint(self) -> int:
        raw = self.uvarint()
        return (raw >> 1) if not raw & 1 else -((raw + 1) >> 1)

    def bounded_uvarint(self, limit: int, name: str) -> int:
        """A uvarint that must be ``<= limit``; ``name`` says which field in the error."""
        value = self.uvarint()
        if value > limit:
            raise BitstreamError(f"{self.what}: {name} = {value} exceeds its limit {limit}")
        return value

    def blob(self) -> bytes:
        return self._take(self.bounded_uvarint(self.remaining, "blob length"))

    def text(self) -> str:
        raw = self.blob()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BitstreamError(f"{self.what}: string field is not valid UTF-8") from exc

    def raw(self, n: int) -> bytes:
        return self._take(n)

    def array(self, dtype: str) -> np.ndarray:
        """A 1-D array written by :meth:`FieldWriter.array` with the same ``dtype``."""
        item = np.dtype(dtype).newbyteorder("<")
        count = self.bounded_uvarint(self.remaining // max(item.itemsize, 1), "array length")
        return np.frombuffer(self._take(count * item.itemsize), dtype=item).astype(
            item.newbyteorder("=")
        )

    def expect_end(self) -> None:
        """Raise if bytes are left over (a sign of a damaged or mis-parsed structure)."""
        if self.remaining:
            raise BitstreamError(f"{self.what}: {self.remaining} unexpected trailing bytes")
