"""Signed order-0 Exp-Golomb codes in one bit string: the integers of filter updates.

An integer ``q`` is coded as the order-0 Exp-Golomb code of ``2q − 1`` (q > 0) or ``−2q``
(q ≤ 0), MSB first: a zero costs 1 bit, ±1 3 bits. The codes of an update are concatenated
and zero-padded to a byte; the reader refuses codes that run past the end, prefixes longer
than :data:`MAX_PREFIX` bits, and set padding or whole bytes after the last code.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from nmc.entropy.binarize import exp_golomb_lengths
from nmc.errors import BitstreamError

MAX_PREFIX = 31  # prefixes longer than this are refused (|q| < 2^31)


def zigzag(q: np.ndarray) -> np.ndarray:
    """``2q − 1`` for q > 0, ``−2q`` for q ≤ 0 (int64, any shape)."""
    q = np.asarray(q, dtype=np.int64)
    return np.where(q > 0, 2 * q - 1, -2 * q)


def exp_golomb_bits(levels: np.ndarray) -> int:
    """Bits of the signed order-0 Exp-Golomb codes of integer ``levels`` (any shape)."""
    z = zigzag(np.asarray(levels, dtype=np.int64).ravel())
    return int((2 * exp_golomb_lengths(z) + 1).sum())


def golomb_text(levels: Iterable[int]) -> str:
    """The codes of ``levels`` as a string of ``"0"`` / ``"1"`` (unpadded)."""
    parts = []
    for z in zigzag(np.fromiter(levels, dtype=np.int64)).tolist():
        code = bin(z + 1)[2:]
        parts.append("0" * (len(code) - 1) + code)
    return "".join(parts)


def pack_text(text: str) -> bytes:
    """Bits ``text`` (MSB first) zero-padded to whole bytes."""
    text += "0" * (-len(text) % 8)
    return int(text, 2).to_bytes(len(text) // 8, "big") if text else b""


class BitReader:
    """Reads flags and signed Exp-Golomb codes from a padded bit string.

    Args:
        data: the bytes (MSB first); what: names the payload in errors.
    """

    def __init__(self, data: bytes, what: str) -> None:
        self.text = "".join(f"{byte:08b}" for byte in data)
        self.pos = 0
        self.what = what

    def flag(self) -> bool:
        """One bit."""
        if self.pos >= len(self.text):
            raise BitstreamError(f"{self.what}: truncated")
        self.pos += 1
        return self.text[self.pos - 1] == "1"

    def signed(self, count: int) -> list[int]:
        """``count`` signed Exp-Golomb integers."""
        text, pos, values = self.text, self.pos, []
        for _ in range(count):
            zeros = 0
            while pos + zeros < len(text) and text[pos + zeros] == "0":
                zeros += 1
            if zeros > MAX_PREFIX or pos + 2 * zeros + 1 > len(text):
                raise BitstreamError(f"{self.what}: truncated or invalid Exp-Golomb code")
            z = int(text[pos + zeros : pos + 2 * zeros + 1], 2) - 1
            pos += 2 * zeros + 1
            values.append((z + 1) // 2 if z % 2 else -(z // 2))
        self.pos = pos
        return values

    def expect_end(self, after: str) -> None:
        """Refuse set padding bits or a whole byte after the last code."""
        rest = self.text[self.pos :]
        if len(rest) >= 8 or "1" in rest:
            raise BitstreamError(f"{self.what}: {len(rest)} bits after the {after}")
