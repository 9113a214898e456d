"""Atomic output files: a file appears under its final name complete, or not at all.

Data goes to a temporary file in the target's folder that is renamed over the target on
commit. On Linux the temporary file is anonymous (``O_TMPFILE``): it has no name until the
commit links it in, so even a process killed with SIGKILL in the middle of a write leaves
nothing behind. Elsewhere (or on file systems without ``O_TMPFILE``) it is a hidden
``.NAME.*.part`` file that an error or Ctrl-C removes.

Every failure to write (missing or unwritable folder, a folder where the file should go, a
full disk or a file-size limit) is an :class:`~nmc.errors.InputError` naming the path, so the
command line reports it in one line with exit code 2.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from nmc.errors import InputError

# Errors that mean "this file system cannot make anonymous files": fall back to a named one.
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT}
_AT_FDCWD, _AT_EMPTY_PATH = -100, 0x1000  # linux/fcntl.h


class AtomicWriter(abc.ABC):
    """Context-manager protocol of the atomic writers: ``close()`` on success, ``abort()``
    (which leaves nothing under the final name) when the block raises."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish the output and move it under its final name."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Discard everything written so far."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _write_error(path: str | os.PathLike[str], exc: OSError) -> InputError:
    """The one-line :class:`InputError` for an ``OSError`` met while writing ``path``."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
        reason += " (disk full or file-size limit reached)"
    return InputError(f"cannot write {path}: {reason}")


def check_output(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`Path` if a file can be written there; :class:`InputError` if not.

    Checks that the folder exists and is writable and that ``path`` is not itself a folder, so
    a command can refuse before minutes of work rather than after.
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder; give a file name for the output")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: output folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path}: output folder {folder} is not writable")
    return path


class AtomicFile:
    """A temporary file in the target's folder, moved over the target on :meth:`commit`.

    Use :func:`atomic_open`; after ``commit()`` or ``discard()`` the object is spent.
    """

    def __init__(self, path: Path) -> None:
        self._path = check_output(path)
        self._named: Path | None = None
        try:
            fd = self._anonymous(self._path.parent)
            if fd is None:
                fd, tmp = tempfile.mkstemp(
                    prefix=f".{self._path.name}.", suffix=".part", dir=self._path.parent
                )
                self._named = Path(tmp)
        except OSError as exc:
            raise _write_error(self._path, exc) from exc
        self._fh: BinaryIO = os.fdopen(fd, "wb")

    @staticmethod
    def _anonymous(folder: Path) -> int | None:
        """A descriptor of an unnamed file in ``folder``, or None where that is unsupported."""
        flag = getattr(os, "O_TMPFILE", 0)
        if not flag:
            return None
        try:
            # The mode passes through the umask, as for a plain open().
            return os.open(folder, flag | os.O_RDWR | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            if exc.errno in _NO_TMPFILE:
                return None
            raise

    def write(self, data: bytes) -> None:
        """Append ``data``; a failed write is an :class:`InputError` (call :meth:`discard`)."""
        try:
            self._fh.write(data)
        except OSError as exc:
            raise _write_error(self._path, exc) from exc

    def tell(self) -> int:
        """Bytes written so far."""
        return self._fh.tell()

    def commit(self) -> None:
        """Flush to disk and move the file under its final name (the old file, if any, stays
        whole until this instant). On failure nothing is left and :class:`InputError` raised."""
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            if self._named is None:
                self._named = self._link_anonymous()
            else:
                # mkstemp creates 0600 files; give the output the mode a plain open() would have.
                os.fchmod(self._fh.fileno(), 0o666 & ~_current_umask())
            self._fh.close()
            os.replace(self._named, self._path)
        except OSError as exc:
            self.discard()
            raise _write_error(self._path, exc) from exc
        except BaseException:
            self.discard()
            raise

    def _link_anonymous(self) -> Path:
        """Give the anonymous file a hidden name beside the target (it lives for one rename).

        ``linkat(fd, "", ..., AT_EMPTY_PATH)`` first, then the ``/proc/self/fd`` link; where
        neither is allowed the data is copied into a named temporary file.
        """
        fd = self._fh.fileno()
        name = self._path.parent / f".{self._path.name}.{os.urandom(6).hex()}.part"
        try:
            _flink(fd, name)
        except OSError:
            try:
                os.link(f"/proc/self/fd/{fd}", name, follow_symlinks=True)
            except OSError:
                return self._copy_to_named()
        return name

    def _copy_to_named(self) -> Path:
        out, tmp = tempfile.mkstemp(
            prefix=f".{self._path.name}.", suffix=".part", dir=self._path.parent
        )
        self._named = Path(tmp)
        with os.fdopen(out, "wb") as dst, open(self._fh.fileno(), "rb", closefd=False) as src:
            src.seek(0)
            shutil.copyfileobj(src, dst)
            dst.flush()
            os.fchmod(dst.fileno(), 0o666 & ~_current_umask())
            os.fsync(dst.fileno())
        return self._named

    def discard(self) -> None:
        """Drop everything written; nothing is left under any name."""
        with contextlib.suppress(OSError):  # a failed flush of data thrown away anyway
            self._fh.close()
        if self._named is not None:
            self._named.unlink(missing_ok=True)


def _flink(fd: int, name: Path) -> None:
    """``linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH)``: a name for an unnamed open file."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.linkat(fd, b"", _AT_FDCWD, os.fsencode(name), _AT_EMPTY_PATH) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(name))


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_open(path: str | os.PathLike[str]) -> AtomicFile:
    """Open ``path`` for an atomic write: ``write()`` then ``commit()`` (or ``discard()``).

    Raises:
        InputError: the output cannot be created (see :func:`check_output`).
    """
    return AtomicFile(Path(path))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; :class:`InputError` (and no file) on failure."""
    handle = atomic_open(path)
    try:
        handle.write(data)
    except BaseException:
        handle.discard()
        raise
    handle.commit()
