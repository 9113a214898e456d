"""The fitting allocator setting: freed multi-megabyte tensors stay in the heap."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

from nmc.allocator import keep_freed_memory

# In a fresh process: where glibc puts a 24 MiB tensor, and what the heap keeps once it is
# freed (mallinfo2: hblkhd = mmapped bytes, fordblks = free bytes held in the heap), in MiB.
_PROBE = """
import ctypes, sys, torch
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "keep":
    from nmc.allocator import keep_freed_memory
    assert keep_freed_memory()
tensor = torch.ones(6 << 20)
during = libc.mallinfo2().hblkhd >> 20
del tensor
print(during, libc.mallinfo2().fordblks >> 20)
"""


def _probe(mode: str) -> tuple[int, int]:
    run = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    mapped, kept = run.stdout.split()
    return int(mapped), int(kept)


def _has_mallinfo2() -> bool:
    name = ctypes.util.find_library("c")
    return name is not None and hasattr(ctypes.CDLL(name), "mallinfo2")


@pytest.mark.skipif(
    not (_has_mallinfo2() and keep_freed_memory()), reason="not glibc >= 2.33's allocator"
)
def test_freed_tensors_stay_in_the_heap():
    mapped, kept = _probe("default")
    assert mapped >= 24 and kept < 24  # glibc's default: mmapped, returned on free
    mapped, kept = _probe("keep")
    assert mapped < 24 and kept >= 24  # from the heap, and still there once freed
    assert keep_freed_memory()  # idempotent
