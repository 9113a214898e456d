"""The MS-GAT post-filter: inputs, identity fallback, weights files, gating, real data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nmc.errors import InputError
from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from nmc.pointcloud.msgat import PostFilter, load_default
from nmc.pointcloud.msgat.calibrate import calibrate, channel_psnr
from nmc.pointcloud.msgat.checkpoint import load_weights, save_weights
from nmc.pointcloud.msgat.config import ModelConfig, PatchConfig
from nmc.pointcloud.msgat.data import Triple
from nmc.pointcloud.msgat.filter import filter_decoded
from nmc.pointcloud.msgat.gating import StepGating, fit_strength
from nmc.pointcloud.msgat.model import MSGAT

SMALL = ModelConfig(channels=8, cheb_k=2, cheb_layers=1, knn=4, heads=2)


def _shared_data() -> Path:
    root = os.environ.get("NMC_SHARED_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    return base.resolve()


def _cloud(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xyz = np.unique(rng.integers(0, 60, size=(2 * n, 3)), axis=0)[:n].astype(np.int32)
    rgb = rng.integers(0, 256, size=(len(xyz), 3)).astype(np.uint8)
    return xyz, rgb


def _noisy_filter() -> PostFilter:
    torch.manual_seed(0)
    model = MSGAT(SMALL)
    torch.nn.init.normal_(model.head.weight, std=0.5)
    return PostFilter(model, StepGating.full(), PatchConfig(patch_size=256, core_size=192))


def test_color_round_trip_is_exact():
    rgb = np.random.default_rng(0).integers(0, 256, size=(5000, 3)).astype(np.uint8)
    np.testing.assert_array_equal(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb)


def test_identity_gating_returns_the_input_untouched():
    xyz, rgb = _cloud()
    filt = _noisy_filter()
    filt.gating = StepGating.identity()
    out = filt.apply(xyz, rgb, np.full(len(xyz), 40.0, np.float32))
    np.testing.assert_array_equal(out, rgb)
    assert out is not rgb


def test_filter_changes_colours_and_keeps_shape():
    xyz, rgb = _cloud()
    out = _noisy_filter().apply(xyz, rgb, np.full(len(xyz), 40.0, np.float32))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.any(out != rgb)


def test_filter_does_not_depend_on_point_order():
    xyz, rgb = _cloud(700, seed=5)
    step = np.full(len(xyz), 40.0, np.float32)
    perm = np.random.default_rng(0).permutation(len(xyz))
    filt = _noisy_filter()
    np.testing.assert_array_equal(
        filt.apply(xyz, rgb, step)[perm], filt.apply(xyz[perm], rgb[perm], step[perm])
    )


def test_features_built_ahead_in_a_second_thread_equal_the_serial_ones():
    """With two threads the next batch's graphs are built in a worker while the network
    runs: batches arrive in order, and the features match the one-thread pass."""
    xyz, rgb = _cloud(1500, seed=3)
    filt = _noisy_filter()
    filt.patches = PatchConfig(patch_size=256, core_size=192, batch_patches=2)
    ycc, step = rgb_to_ycbcr(rgb), np.full(len(xyz), 40.0, np.float32)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = filt.features(xyz, ycc, step)
        torch.set_num_threads(2)
        ahead = filt.features(xyz, ycc, step)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_allclose(ahead, serial, rtol=1e-5, atol=1e-5)


def test_filter_accepts_empty_and_single_point_clouds():
    filt = _noisy_filter()
    empty = filt.apply(np.zeros((0, 3), np.int32), np.zeros((0, 3), np.uint8), np.zeros(0))
    assert empty.shape == (0, 3)
    one = filt.apply(np.zeros((1, 3), np.int32), np.full((1, 3), 9, np.uint8), np.ones(1))
    assert one.shape == (1, 3)


@pytest.mark.parametrize(
    "xyz, rgb, step",
    [
        (np.zeros((4, 3), np.float32), np.zeros((4, 3), np.uint8), np.ones(4)),  # float xyz
        (np.zeros((4, 3), np.int32), np.zeros((4, 3), np.int32), np.ones(4)),  # int rgb
        (np.zeros((4, 3), np.int32), np.zeros((5, 3), np.uint8), np.ones(4)),  # N mismatch
        (np.zeros((4, 2), np.int32), np.zeros((4, 2), np.uint8), np.ones(4)),  # not [N, 3]
        (np.zeros((4, 3), np.int32), np.zeros((4, 3), np.uint8), np.ones(3)),  # step length
        (np.zeros((4, 3), np.int32), np.zeros((4, 3), np.uint8), -np.ones(4)),  # negative
        (np.zeros((4, 3), np.int32), np.zeros((4, 3), np.uint8), np.full(4, np.nan)),
    ],
)
def test_bad_inputs_raise_input_error(xyz, rgb, step):
    with pytest.raises(InputError):
        _noisy_filter().apply(xyz, rgb, step)


def test_bad_device_raises_input_error():
    xyz, rgb = _cloud(50)
    with pytest.raises(InputError):
        _noisy_filter().apply(xyz, rgb, np.ones(len(xyz)), device="tpu")


def test_gating_interpolates_in_log_step_and_clamps():
    gating = StepGating(steps=(10.0, 40.0), strength=((0.0, 1.0, 0.5), (1.0, 0.0, 0.5)))
    out = gating(np.array([1.0, 10.0, 20.0, 40.0, 1000.0]))
    np.testing.assert_allclose(out[:, 0], [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[:, 2], 0.5)
    assert StepGating.from_dict(gating.to_dict()) == gating
    with pytest.raises(ValueError):
        StepGating(steps=(40.0, 10.0), strength=((0, 0, 0), (0, 0, 0)))
    with pytest.raises(ValueError):
        StepGating(steps=(10.0,), strength=((0, 0, 2.0),))


def test_fit_strength_is_least_squares_clipped():
    rng = np.random.default_rng(0)
    residual = rng.normal(size=(1000, 3))
    error = residual * np.array([0.5, 3.0, -1.0])
    np.testing.assert_allclose(fit_strength(residual, error), (0.5, 1.0, 0.0), atol=1e-9)


def test_weights_file_round_trip(tmp_path):
    filt = _noisy_filter()
    gating = StepGating(steps=(8.0, 64.0), strength=((1.0, 0.5, 0.0), (1.0, 1.0, 1.0)))
    path = tmp_path / "w.pt"
    save_weights(path, filt.model, gating, filt.patches, {"note": "test"})
    model, gating2, patches, record = load_weights(path)
    assert gating2 == gating and patches == filt.patches and record == {"note": "test"}
    for key, value in filt.model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


def test_broken_weights_files_raise_input_error(tmp_path):
    with pytest.raises(InputError):
        load_weights(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(InputError):
        load_weights(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(InputError):
        load_weights(other)


def test_calibration_switches_off_a_filter_that_hurts():
    xyz, rgb = _cloud(400, seed=3)
    noisy = np.clip(rgb.astype(int) + 3, 0, 255).astype(np.uint8)
    triple = Triple("synthetic", 40, xyz, rgb, noisy, np.full(len(xyz), 40.0, np.float32), 0, 0)
    filt = _noisy_filter()
    filt.model.step_gain.data.fill_(0.0)
    with torch.no_grad():
        filt.model.step_gain[1].fill_(3.0)  # a large random residual: it can only hurt
    gating, report = calibrate(filt, [triple])
    gains, strength = report["40"]["gain_db"], report["40"]["strength"]
    assert gating.steps == (40.0,)
    assert gains["yuv"] >= 0.0
    assert all(gains[c] > 0.0 for c, s in zip("yuv", strength) if s > 0)


def test_channel_psnr():
    a = np.zeros((10, 3), np.float32)
    b = a.copy()
    b[:, 0] = 255.0
    np.testing.assert_allclose(channel_psnr(a, b), [0.0, 100.0, 100.0])


def test_shipped_weights_improve_a_real_coded_scan_patch():
    codec = pytest.importorskip("nmc.pointcloud", reason="point-cloud codec not installed")
    scan = _shared_data() / "osd" / "learn0.pcd"
    if not scan.is_file():
        pytest.skip(f"real scans absent ({scan}); see ../shared/data/README.md")
    filt = load_default()
    if filt is None:
        pytest.skip("no shipped MS-GAT weights in nmc/models")
    cloud = codec.read_cloud(scan, bits=10)
    xyz, rgb = np.asarray(cloud.xyz), np.asarray(cloud.rgb)
    centre = xyz[len(xyz) // 2]
    near = np.argsort(np.abs(xyz - centre).sum(axis=1), kind="stable")[:20000]
    part = codec.PointCloud(xyz[near], rgb[near])
    decoded = codec.decode_cloud(codec.encode_cloud(part, 40))
    order = np.lexsort(np.asarray(decoded.xyz).T)
    ref_order = np.lexsort(np.asarray(part.xyz).T)
    dec_xyz = np.asarray(decoded.xyz)[order]
    dec_rgb = np.asarray(decoded.rgb)[order]
    original = np.asarray(part.rgb)[ref_order]
    out = filt.apply(dec_xyz, dec_rgb, np.asarray(decoded.step)[order])
    weights = np.array([6.0, 1.0, 1.0]) / 8.0
    before = weights @ channel_psnr(original, dec_rgb)
    after = weights @ channel_psnr(original, out)
    assert after > before
    # The decoder hook gives the same colours, in the decoder's own point order.
    np.testing.assert_array_equal(filter_decoded(decoded)[order], out)


def test_import_prints_no_warnings_and_skips_pyg():
    """Importing the filter prints no warning a user cannot act on, and does not import
    PyG (its import alone took 1.7 s of every ``nmc decode``)."""
    code = "import sys, nmc.pointcloud.msgat.filter; assert 'torch_geometric' not in sys.modules"
    run = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
