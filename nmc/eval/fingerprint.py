"""Fingerprints of nmc's codec sources, so that a cached point is reused only with the same code.

A point of an nmc codec depends on more than ``nmc.__version__``: any edit of the codec, of the
coding layers it calls or of the shipped models changes its bits. The fingerprint hashes the
names and bytes of every file under the codec's package, :data:`SHARED` (``nmc.weights``,
``nmc.entropy``, ``nmc.bitstream``, ``nmc.media``, ``nmc/models``) and the public API's dispatch
(``nmc/api.py``, ``nmc/registry.py``), without importing any of them (the harness stays free of
torch). Compiled caches (``__pycache__``) and hidden files are left out.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nmc
from nmc.errors import InputError

SHARED = ("api.py", "bitstream", "entropy", "media", "models", "registry.py", "weights")
"""Paths under the ``nmc`` package that every codec's output depends on."""


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return [
        p
        for p in path.rglob("*")
        if p.is_file()
        and not any(part.startswith((".", "__pycache__")) for part in p.relative_to(path).parts)
    ]


def codec_fingerprint(codec: str, root: Path | None = None) -> str:
    """16 hex digits identifying the sources the nmc codec ``codec`` (``"video"``, ...) runs.

    Args:
        codec: the codec's package name under ``root``.
        root: the ``nmc`` package folder (default: this installation's).

    Raises:
        InputError: ``codec`` is not a package under ``root``.
    """
    root = Path(nmc.__file__).resolve().parent if root is None else Path(root)
    package = root / codec
    if not (package / "__init__.py").is_file():
        raise InputError(f"no nmc codec package {codec!r} under {root}")
    digest = hashlib.sha256()
    paths = [p for name in (codec, *SHARED) if (root / name).exists() for p in _files(root / name)]
    for path in sorted(set(paths)):
        data = path.read_bytes()
        digest.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:16]
