"""Keep freed memory in the process heap while fitting (glibc's allocator only).

A fit allocates and frees the same few tensors of several megabytes at every step (an I
frame's context model holds ``[32, 39 k]`` activations at 176x144). glibc serves every block
above its mmap threshold (128 KiB at start, raised only as far as the largest block freed so
far) with a fresh ``mmap`` and returns it to the kernel on ``free``, so each step pays a page
fault for every 4 KiB it touches again: 2,300 faults per I-frame fit step measured here
(carphone, 176x144). With the thresholds raised the heap keeps those pages (7 faults per
step): a carphone I frame's fit took 168 s instead of 209 s, its P frames 15.5 / 4.4 / 4.9 s
instead of 20.4 / 5.2 / 5.4 s, the file bit for bit the same (docs/video.md, "Fitting
speed"). The cost is memory: the heap keeps up to :data:`TRIM_THRESHOLD` of freed space.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Largest mmap threshold glibc accepts on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX).
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 512 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for the rest of the process (once; later calls
    do nothing). Returns whether the allocator accepted them (False off glibc)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
