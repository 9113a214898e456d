"""Metrics against values known in closed form, and against ffmpeg / pytorch_msssim."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nmc.errors import InputError
from nmc.eval.metrics import (
    PSNR_CAP_DB,
    attribute_psnr,
    attribute_psnr_nn,
    ms_ssim,
    plane_psnr,
    psnr_planes,
    rgb_to_ycbcr_bt709,
)


def test_psnr_of_unit_error_is_48_13_db() -> None:
    ref = np.full((2, 8, 8), 100, np.uint8)
    assert plane_psnr(ref, ref + 1) == pytest.approx(10 * np.log10(255**2), abs=1e-12)


def test_psnr_averages_per_frame_values_and_caps_identical_frames() -> None:
    ref = np.zeros((2, 4, 4), np.uint8)
    test = ref.copy()
    test[1] += 2  # frame 1: MSE 4
    expected = (PSNR_CAP_DB + 10 * np.log10(255**2 / 4)) / 2
    assert plane_psnr(ref, test) == pytest.approx(expected)


def test_psnr_yuv_weights_six_one_one() -> None:
    y = np.zeros((1, 4, 4), np.uint8)
    c = np.zeros((1, 2, 2), np.uint8)
    out = psnr_planes((y, c, c), (y + 1, c + 2, c + 4))
    assert out["yuv"] == pytest.approx((6 * out["y"] + out["u"] + out["v"]) / 8)
    assert out["u"] == pytest.approx(10 * np.log10(255**2 / 4))


def test_psnr_rejects_mismatched_planes() -> None:
    with pytest.raises(InputError, match="shapes differ"):
        plane_psnr(np.zeros((1, 4, 4)), np.zeros((1, 4, 5)))


def test_ms_ssim_matches_pytorch_msssim_on_large_real_frames(carphone_clip) -> None:
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    # 2x upscale of two real frames cropped to odd sizes 287x351 (> 160 pixels, the minimum of
    # pytorch_msssim; odd sides exercise the pooling padding).
    ref = np.repeat(np.repeat(carphone_clip.y[:2], 2, axis=1), 2, axis=2).astype(np.float64)
    ref = ref[:, :287, :351]
    noise = np.random.default_rng(0).normal(0, 6, ref.shape)
    test = np.clip(ref + noise, 0, 255)
    expected = pytorch_msssim.ms_ssim(
        torch.from_numpy(ref)[:, None], torch.from_numpy(test)[:, None], data_range=255
    ).item()
    assert ms_ssim(ref, test) == pytest.approx(expected, abs=1e-6)


def test_ms_ssim_small_frames_is_one_for_identical_and_falls_with_noise(carphone_clip) -> None:
    y = carphone_clip.y
    assert ms_ssim(y, y) == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(1)
    light = np.clip(y + rng.normal(0, 3, y.shape), 0, 255)
    heavy = np.clip(y + rng.normal(0, 20, y.shape), 0, 255)
    assert 1.0 > ms_ssim(y, light) > ms_ssim(y, heavy) > 0.0


def test_bt709_conversion_of_primaries() -> None:
    ycc = rgb_to_ycbcr_bt709(np.array([[255, 255, 255], [0, 0, 255], [255, 0, 0]]))
    np.testing.assert_allclose(ycc[0], [255, 128, 128], atol=1e-9)
    np.testing.assert_allclose(
        ycc[1], [0.0722 * 255, 255.5, 128 - 0.0722 * 255 / 1.5748], atol=1e-9
    )
    np.testing.assert_allclose(ycc[2, 2], 255.5, atol=1e-9)


def _cloud(rng: np.random.Generator, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    xyz = np.unique(rng.integers(0, 64, (n, 3)), axis=0).astype(np.int32)
    return xyz, rng.integers(0, 256, (len(xyz), 3)).astype(np.uint8)


def test_attribute_psnr_point_to_point_known_value_and_any_order() -> None:
    xyz, rgb = _cloud(np.random.default_rng(2))
    grey = np.full_like(rgb, 100)
    order = np.random.default_rng(3).permutation(len(xyz))
    out = attribute_psnr(xyz, grey, xyz[order], grey[order] + 2)  # Y error 2, chroma 0
    assert out["y"] == pytest.approx(10 * np.log10(255**2 / 4))
    assert out["u"] == out["v"] == PSNR_CAP_DB
    assert out["yuv"] == pytest.approx((6 * out["y"] + 2 * PSNR_CAP_DB) / 8)


def test_attribute_psnr_refuses_different_geometry() -> None:
    xyz, rgb = _cloud(np.random.default_rng(4))
    with pytest.raises(InputError, match="identical geometry"):
        attribute_psnr(xyz, rgb, xyz[1:], rgb[1:])


def test_nearest_neighbour_form_equals_point_to_point_on_same_geometry() -> None:
    rng = np.random.default_rng(5)
    xyz, rgb = _cloud(rng)
    noisy = np.clip(rgb.astype(int) + rng.integers(-9, 10, rgb.shape), 0, 255).astype(np.uint8)
    direct = attribute_psnr(xyz, rgb, xyz, noisy)
    nearest = attribute_psnr_nn(xyz, rgb, xyz[::-1], noisy[::-1])
    for key in direct:
        assert nearest[key] == pytest.approx(direct[key], abs=1e-9)


def test_nearest_neighbour_form_takes_the_worse_direction() -> None:
    ref_xyz = np.array([[0, 0, 0], [10, 0, 0]])
    ref_rgb = np.array([[100, 100, 100], [200, 200, 200]], np.uint8)
    test_xyz = np.array([[0, 0, 0]])
    test_rgb = np.array([[100, 100, 100]], np.uint8)
    out = attribute_psnr_nn(ref_xyz, ref_rgb, test_xyz, test_rgb)
    # ref -> test: second point pairs with grey 100 (Y error 100, half the points);
    # test -> ref: exact. The symmetric value is the worse one.
    assert out["y"] == pytest.approx(10 * np.log10(255**2 / (100**2 / 2)))
