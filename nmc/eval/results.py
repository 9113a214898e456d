"""Rate-distortion points on disk: the JSON-lines file a campaign appends to and resumes from.

Every finished point is added to ``rd.jsonl`` at once, and the file is replaced atomically
(temporary file + rename) on each addition, so a run killed at any moment leaves a complete file
holding every point finished so far, and no half-written line. A file holds one point per
curve and rate: a point measured again (changed codec sources or settings under the same codec
name) replaces the old one, so every tool reading the file (``nmc bdrate``, plots) sees one
consistent curve per dataset and codec.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from nmc.bitstream import atomic_write_bytes
from nmc.errors import InputError


def read_points(path: str | Path) -> list[dict[str, Any]]:
    """All records of a JSON-lines file (blank lines skipped).

    Raises:
        InputError: missing file, or a line that is not a JSON object (with its line number).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read RD points ({exc.strerror})") from exc
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise InputError(f"{path}:{number}: expected a JSON object per line")
        records.append(record)
    return records


def _json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=False, default=_plain) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-able: {type(value).__name__}")


class RdStore:
    """The records of one campaign's ``rd.jsonl``, keyed by point identity."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records: list[dict[str, Any]] = read_points(self.path) if self.path.exists() else []

    def keys(self) -> set[str]:
        return {r["key"] for r in self.records if "key" in r}

    def add(self, record: dict[str, Any]) -> None:
        """Append ``record``, drop the records it supersedes (same :func:`point_slot`), and rewrite
        the file atomically."""
        slot = point_slot(record)
        self.records = [r for r in self.records if point_slot(r) != slot] + [record]
        atomic_write_bytes(self.path, "".join(map(_json_line, self.records)).encode())


def point_slot(record: dict[str, Any]) -> tuple:
    """Where a record sits on a plot: ``(dataset, codec, rate_option, rate)``."""
    return tuple(record.get(k) for k in ("dataset", "codec", "rate_option", "rate"))


def curve(
    records: Iterable[dict[str, Any]], metric: str, rate: str = "bpp"
) -> tuple[np.ndarray, np.ndarray]:
    """``(rates, metric values)`` of ``records``, sorted by rate.

    Raises:
        InputError: a record lacks the rate or metric field.
    """
    pairs = []
    for record in records:
        if rate not in record or metric not in record:
            raise InputError(
                f"RD point {record.get('codec', '?')}/{record.get('rate', '?')} lacks "
                f"{rate!r} or {metric!r}; fields: {', '.join(record)}"
            )
        pairs.append((float(record[rate]), float(record[metric])))
    pairs.sort()
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def group(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Records grouped by ``(dataset, codec)``, in first-seen order."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        out.setdefault((str(record.get("dataset", "")), str(record.get("codec", ""))), []).append(
            record
        )
    return out
