"""Video I/O: y4m / FFV1 / PNG round trips, PyAV reading, odd sizes, bit depths, bad inputs."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from nmc.errors import InputError
from nmc.media import chroma_size
from nmc.video import Video, read_video, write_video


def _same(a: Video, b: Video) -> bool:
    return all(np.array_equal(getattr(a, p), getattr(b, p)) for p in "yuv")


@pytest.mark.parametrize("suffix", [".y4m", ".mkv"])
def test_lossless_round_trip_odd_size(tmp_path, clip, suffix):
    path = tmp_path / f"clip{suffix}"
    write_video(clip, path)
    back, info = read_video(path)
    assert _same(back, clip) and back.fps == clip.fps
    assert info.pix_fmt == "yuv420p"


def test_start_and_frames(tmp_path, clip):
    path = tmp_path / "clip.y4m"
    write_video(clip, path)
    part, _ = read_video(path, start=1, frames=1)
    assert part.num_frames == 1 and np.array_equal(part.y[0], clip.y[1])
    with pytest.raises(InputError, match="start"):
        read_video(path, start=5)
    with pytest.raises(InputError):
        read_video(path, frames=0)


def test_pyav_reads_real_clip_with_range(carphone):
    video, info = read_video(carphone, start=3, frames=4)
    assert video.y.shape == (4, 144, 176) and video.u.shape == (4, 72, 88)
    assert video.fps == Fraction(30000, 1001) and info.pix_fmt == "yuv420p"
    first, _ = read_video(carphone, start=0, frames=4)
    assert np.array_equal(first.y[3], video.y[0])


def test_png_sequence(tmp_path, clip):
    write_video(clip, tmp_path / "f_%03d.png")
    images = sorted(tmp_path.glob("f_*.png"))
    assert [p.name for p in images] == ["f_000.png", "f_001.png", "f_002.png"]
    assert np.array_equal(np.asarray(Image.open(images[1])), clip.rgb()[1])
    write_video(clip.slice(0, 1), tmp_path / "plain.png")
    assert (tmp_path / "plain_00000.png").is_file()


def _y4m(path, header: bytes, frames: list[bytes]) -> None:
    path.write_bytes(header + b"\n" + b"".join(b"FRAME\n" + f for f in frames))


def test_y4m_high_bit_depth_444_and_mono(tmp_path):
    rng = np.random.default_rng(0)
    y10 = rng.integers(0, 1024, (5, 7), dtype=np.uint16)
    planes = [y10, y10, y10]  # 4:4:4, 10 bit
    _y4m(
        tmp_path / "a.y4m",
        b"YUV4MPEG2 W7 H5 F25:1 C444p10",
        [b"".join(p.astype("<u2").tobytes() for p in planes)],
    )
    video, info = read_video(tmp_path / "a.y4m")
    assert info.bit_depth == 10 and video.u.shape == (1, *chroma_size(5, 7))
    assert np.array_equal(video.y[0], np.clip(np.floor(y10 / 4 + 0.5), 0, 255).astype(np.uint8))
    _y4m(tmp_path / "m.y4m", b"YUV4MPEG2 W4 H3 F30:1 Cmono", [bytes(range(12))])
    mono, _ = read_video(tmp_path / "m.y4m")
    assert (mono.u == 128).all() and mono.y[0, 1, 0] == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"NOTY4M W4 H4\n", "not a y4m"),
        (b"YUV4MPEG2 W0 H4\n", "no valid size"),
        (b"YUV4MPEG2 W4 H4 C411\n", "not supported"),
        (b"YUV4MPEG2 W4 H4 C420jpeg\nFRAME\n" + bytes(10), "truncated"),
        (b"YUV4MPEG2 W4 H4 C420jpeg\nJUNK\n", "FRAME"),
        (b"YUV4MPEG2 W4 H4 Fx:y\n", "malformed"),
    ],
)
def test_bad_y4m_is_input_error(tmp_path, content, message):
    path = tmp_path / "bad.y4m"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_video(path)


def test_bad_sources_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "noise.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(InputError):
        read_video(tmp_path / "noise.mp4")
    with pytest.raises(InputError, match="uint8"):
        read_video(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(InputError, match=r"\[T, H, W, 3\]"):
        read_video(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="fps"):
        read_video(tmp_path / "noise.mp4", fps=25)


def test_bad_outputs_are_input_errors(tmp_path, clip):
    with pytest.raises(InputError, match="unknown output type"):
        write_video(clip, tmp_path / "out.avi")
    with pytest.raises(InputError, match="does not exist"):
        write_video(clip, tmp_path / "nowhere" / "out.y4m")


def test_rgb_array_round_trip_is_close():
    rng = np.random.default_rng(1)
    rgb = np.repeat(np.repeat(rng.integers(30, 220, (2, 3, 4, 3), dtype=np.uint8), 2, 1), 2, 2)
    video, info = read_video(rgb, fps=24)
    assert info.pix_fmt == "rgb24" and video.fps == 24
    back = np.asarray(video)
    assert back.shape == rgb.shape and np.abs(back.astype(int) - rgb).max() <= 3
