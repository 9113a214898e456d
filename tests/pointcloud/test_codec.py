"""The point-cloud codec end to end: lossless geometry, colours within the QP, bad input."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import nmc
from nmc.bitstream import unpack
from nmc.errors import BitstreamError, InputError
from nmc.pointcloud import (
    PointCloud,
    decode_cloud,
    encode_cloud,
    qp_step,
    read_cloud,
    rgb_to_ycbcr,
)
from nmc.pointcloud import codec as plugin
from nmc.pointcloud.morton import morton_encode
from nmc.pointcloud.samples import textured_surface


@pytest.fixture(scope="module")
def sample() -> PointCloud:
    return textured_surface(samples=110, bits=7)


def _sorted(xyz: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    order = np.lexsort(xyz.T)
    return [xyz[order]] + [a[order] for a in arrays]


def _check_round_trip(cloud: PointCloud, qp: int) -> None:
    dec = decode_cloud(encode_cloud(cloud, qp))
    xyz, rgb = _sorted(cloud.xyz, cloud.rgb)
    dxyz, drgb = _sorted(dec.xyz, dec.rgb)
    np.testing.assert_array_equal(dxyz, xyz)
    assert dec.xyz.dtype == np.int32 and dec.rgb.dtype == np.uint8
    codes = morton_encode(dec.xyz - dec.xyz.min(axis=0))
    assert np.all(np.diff(codes) > 0), "decoded points must be in Morton order"
    error = rgb_to_ycbcr(drgb) - rgb_to_ycbcr(rgb)
    step = qp_step(qp)
    rmse = np.sqrt((error**2).mean(axis=0))
    assert np.all(rmse <= 0.5 * step + 0.6), (qp, rmse, step)
    np.testing.assert_array_equal(dec.step, np.full(cloud.points, step, np.float32))
    assert dec.qp == qp and dec.chroma_qp_offset == -1


@pytest.mark.parametrize("qp", [4, 22, 40, 51])
def test_sample_round_trip(sample, qp):
    _check_round_trip(sample, qp)


def test_real_scan_round_trip(osd_dir):
    cloud = read_cloud(osd_dir / "learn30.pcd")
    _check_round_trip(cloud, 34)


def test_random_colours_near_lossless():
    """Large coefficients (long Exp-Golomb codes) at the finest QP."""
    rng = np.random.default_rng(4)
    xyz = np.unique(rng.integers(0, 40, (3000, 3)), axis=0).astype(np.int32)
    cloud = PointCloud(xyz, rng.integers(0, 256, xyz.shape).astype(np.uint8))
    _check_round_trip(cloud, 4)


def test_rate_falls_with_qp(sample):
    sizes = [len(encode_cloud(sample, qp)) for qp in (22, 34, 46)]
    assert sizes[0] > sizes[1] > sizes[2]


def test_integer_origin_and_single_point():
    cloud = PointCloud(
        np.array([[-5, 3, 1000], [-4, 3, 1000], [7, -2, 990]], np.int32),
        np.array([[10, 20, 30], [200, 100, 0], [255, 255, 255]], np.uint8),
    )
    dec = decode_cloud(encode_cloud(cloud, 4))
    assert sorted(map(tuple, dec.xyz.tolist())) == sorted(map(tuple, cloud.xyz.tolist()))
    one = PointCloud(np.array([[3, 4, 5]], np.int32), np.array([[9, 99, 199]], np.uint8))
    dec = decode_cloud(encode_cloud(one, 4))
    assert dec.xyz.tolist() == [[3, 4, 5]]
    assert np.abs(dec.rgb.astype(int) - [9, 99, 199]).max() <= 1


@pytest.mark.parametrize(
    "cloud",
    [
        PointCloud(np.zeros((0, 3), np.int32), np.zeros((0, 3), np.uint8)),
        PointCloud(np.zeros((2, 3), np.int32), np.zeros((2, 3), np.uint8)),
        PointCloud(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.uint8)),
        PointCloud(np.eye(3, dtype=np.int32), np.zeros((3, 3), np.float32)),
        PointCloud(np.eye(3, dtype=np.int32), np.zeros((3, 4), np.uint8)),
        PointCloud(np.array([[0, 0, 0], [1 << 22, 0, 0]], np.int32), np.zeros((2, 3), np.uint8)),
    ],
)
def test_bad_clouds_are_refused(cloud):
    with pytest.raises(InputError):
        encode_cloud(cloud, 34)


def test_bad_options_are_refused(sample):
    with pytest.raises(InputError):
        encode_cloud(sample, 2)
    with pytest.raises(InputError):
        encode_cloud(sample, 34, chroma_qp_offset=1.5)
    with pytest.raises(InputError):
        plugin.encode(sample, qp=34, quality=3)
    with pytest.raises(InputError):
        plugin.encode(sample, frames=3)
    with pytest.raises(InputError):
        plugin.encode(sample, bits=10)
    with pytest.raises(InputError):
        plugin.encode(sample, postfilter="magic")


def test_damaged_bitstreams_raise_bitstream_error(sample):
    data = encode_cloud(sample, 34)
    for cut in (0, 5, 20, len(data) // 2, len(data) - 1):
        with pytest.raises(BitstreamError):
            decode_cloud(data[:cut])
    rng = np.random.default_rng(0)
    container = unpack(data)
    for chunk_index in range(len(container.chunks)):
        for _ in range(6):
            chunk = container.chunks[chunk_index]
            payload = bytearray(chunk.payload)
            at = int(rng.integers(0, len(payload)))
            payload[at] ^= 1 << int(rng.integers(0, 8))
            chunks = list(container.chunks)
            chunks[chunk_index] = dataclasses.replace(chunk, payload=bytes(payload))
            damaged = dataclasses.replace(container, chunks=tuple(chunks))
            try:
                dec = plugin.decode(damaged)[0]
            except BitstreamError:
                continue
            assert dec.xyz.shape == sample.xyz.shape  # a colour-only change may go unnoticed
    with pytest.raises(BitstreamError):
        plugin.decode(dataclasses.replace(container, header=container.header[:-1]))
    with pytest.raises(BitstreamError):
        plugin.decode(dataclasses.replace(container, chunks=container.chunks[:1]))


def test_plugin_api(sample, tmp_path):
    assert plugin.accepts(sample) and plugin.accepts("a.PLY") and plugin.accepts("b.pcd")
    assert not plugin.accepts("c.mp4") and not plugin.accepts(np.zeros((2, 3)))
    data, report = plugin.encode(sample, quality=4, progress=False)
    assert report["qp"] == 34 and report["points"] == sample.points
    assert report["attribute_bits"] + report["geometry_bits"] < 8 * len(data)
    json.dumps(report)
    container = unpack(data)
    info = plugin.describe(container)
    assert info["points"] == sample.points
    assert info["geometry_bits"] == report["geometry_bits"]
    assert info["attribute_bits"] == report["attribute_bits"]
    json.dumps(info)
    decoded, dreport = plugin.decode(container, postfilter="none", progress=False)
    assert dreport["points"] == sample.points and dreport["point_order"] == "morton"
    json.dumps(dreport)
    with pytest.raises(InputError):
        plugin.decode(container, qp=3)
    out = tmp_path / "out.ply"
    plugin.write_output(decoded, out)
    back = read_cloud(out)
    np.testing.assert_array_equal(
        _sorted(back.xyz, back.rgb)[1], _sorted(decoded.xyz, decoded.rgb)[1]
    )
    with pytest.raises(InputError):
        plugin.write_output(decoded, tmp_path / "out.png")


def test_public_api_and_file_input(sample, tmp_path):
    source = tmp_path / "in.ply"
    nmc.pointcloud.write_ply(source, sample.xyz, sample.rgb)
    target = nmc.encode(source, tmp_path / "s.nmc", qp=40)
    info = nmc.info(target)
    assert info["codec"] == "pointcloud" and info["points"] == sample.points
    decoded = nmc.decode(target)
    assert decoded.points == sample.points
