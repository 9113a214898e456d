"""Training loop of MS-GAT on stand-in degradations (uniform quantization of colours)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nmc.cli import build_parser as nmc_parser
from nmc.errors import InputError
from nmc.media.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from nmc.pointcloud.msgat.checkpoint import load_weights, save_weights
from nmc.pointcloud.msgat.config import ModelConfig, PatchConfig
from nmc.pointcloud.msgat.data import (
    PatchSample,
    PatchSampler,
    Triple,
    add_colour_noise,
    match_order,
    noisy_name,
)
from nmc.pointcloud.msgat.gating import StepGating
from nmc.pointcloud.msgat.model import MSGAT
from nmc.pointcloud.msgat.train import (
    Trainer,
    build_parser,
    lr_factor,
    noise_levels,
    patch_loss,
    split_scans,
)


def _triple(name: str, qp: int, seed: int) -> Triple:
    """A smooth coloured surface whose colours are uniformly quantized with the QP's step."""
    rng = np.random.default_rng(seed)
    xy = np.unique(rng.integers(0, 80, size=(3000, 2)), axis=0)
    z = (10 * np.sin(xy[:, :1] / 9.0)).astype(np.int64) + 20
    xyz = np.concatenate([xy, z], axis=1).astype(np.int32)
    base = 128 + 60 * np.sin(xyz[:, :1] / 13.0) * np.cos(xyz[:, 1:2] / 7.0)
    rgb = np.clip(base + np.array([[0, 20, -20]]), 0, 255).astype(np.uint8)
    step = 2.0 ** ((qp - 4) / 6)
    decoded = ycbcr_to_rgb(np.round(rgb_to_ycbcr(rgb) / step) * step)
    return Triple(name, qp, xyz, rgb, decoded, np.full(len(xyz), step, np.float32), 0, 0)


def _args(tmp_path, *extra):
    small = ["--channels", "8", "--cheb-k", "2", "--knn", "4", "--patch-size", "128"]
    small += ["--batch", "2", "--val-patches", "1"]
    paths = ["--data", str(tmp_path), "-o", str(tmp_path / "m.pt")]
    return build_parser().parse_args([*paths, *small, *extra])


def test_trainer_checkpoints_and_resumes(tmp_path):
    train = [_triple("a", 46, 0), _triple("b", 34, 1)]
    val = [_triple("c", 46, 2)]
    args = _args(tmp_path, "--steps", "2", "--val-every", "2")
    torch.manual_seed(0)
    config = ModelConfig(channels=8, cheb_k=2, knn=4)
    first = Trainer(MSGAT(config), args, torch.device("cpu"), 0, 1, train, (val, []))
    first.fit(lead=True, show=False)
    assert first.step == 2 and (tmp_path / "m.pt.ckpt").is_file()
    args.steps, args.resume = 4, True
    second = Trainer(MSGAT(config), args, torch.device("cpu"), 0, 1, train, (val, []))
    assert second.step == 2
    second.fit(lead=True, show=False)
    assert second.step == 4 and [h["step"] for h in second.history] == [2, 4]
    assert second.history[0]["seconds"] <= second.history[1]["seconds"]
    assert set(second.history[-1]["val_gain_db"]) == {46}
    assert "noisy_val_gain_db" not in second.history[-1]


def test_noisy_copies_are_validated_apart_and_training_can_start_from_weights(tmp_path):
    train, val, noisy = [_triple("a", 46, 0)], [_triple("c", 46, 2)], [_triple("c+n", 34, 3)]
    config = ModelConfig(channels=8, cheb_k=2, knn=4)
    save_weights(tmp_path / "w.pt", MSGAT(config), StepGating.full(), PatchConfig(), {})
    args = _args(tmp_path, "--steps", "1", "--val-every", "1", "--init", str(tmp_path / "w.pt"))
    assert args.init == tmp_path / "w.pt" and args.colour_noise == 0.0
    trainer = Trainer(
        load_weights(args.init)[0], args, torch.device("cpu"), 0, 1, train, (val, noisy)
    )
    trainer.fit(lead=True, show=False)
    entry = trainer.history[-1]
    assert set(entry["val_gain_db"]) == {46} and set(entry["noisy_val_gain_db"]) == {34}


def test_colour_noise_is_reproducible_and_named():
    rgb = np.full((2000, 3), 250, np.uint8)
    noisy = add_colour_noise(rgb, 8.0, "learn1+noise8")
    np.testing.assert_array_equal(noisy, add_colour_noise(rgb, 8.0, "learn1+noise8"))
    assert not np.array_equal(noisy, add_colour_noise(rgb, 8.0, "learn2+noise8"))
    assert noisy.dtype == np.uint8 and noisy.max() == 255  # clipped, not wrapped
    assert 5.0 < float(np.std(noisy.astype(float) - 250)) < 8.0  # clipping shrinks it
    assert noisy_name("learn1", 8.0) == "learn1+noise8" and noisy_name("learn1", 0) == "learn1"
    assert noise_levels(4, 40.0) == [4.0, 16.0, 28.0, 40.0] and noise_levels(4, 0) == []


def test_learning_rate_warms_up_then_decays_to_zero_by_steps_or_time():
    assert lr_factor(0, 0.0) == pytest.approx(1 / 50)
    assert lr_factor(200, 0.0) == pytest.approx(1.0)
    assert lr_factor(200, 0.5) == pytest.approx(0.5)
    assert lr_factor(200, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(200, 3.0) == pytest.approx(0.0, abs=1e-12)  # past a time limit


def test_patch_loss_is_minus_the_psnr_gain():
    sample = PatchSampler([_triple("a", 46, 0)], 64, seed=0).sample(2)
    dec = torch.from_numpy(sample.decoded)
    assert patch_loss(dec, sample).abs() < 1e-6  # identity: no gain
    perfect = patch_loss(torch.from_numpy(sample.original), sample)
    assert perfect < 0


def test_cloud_loss_is_the_first_order_gain_of_the_whole_cloud():
    triple = _triple("a", 46, 0)
    whole = PatchSampler([triple], len(triple.xyz), seed=0).sample(1)  # one patch = the cloud
    dec, orig = torch.from_numpy(whole.decoded), torch.from_numpy(whole.original)
    assert patch_loss(dec, whole, "cloud").abs() < 1e-6
    slightly = dec + 0.01 * (orig - dec)
    assert patch_loss(slightly, whole, "cloud") == pytest.approx(
        float(patch_loss(slightly, whole)), rel=0.02
    )
    # The same MSE change counts less in a cloud whose errors are larger.
    sample = PatchSampler([triple], 64, seed=0).sample(2)
    out = torch.from_numpy(sample.decoded) + 0.5
    louder = PatchSample(**{**vars(sample), "cloud_mse": 4 * sample.cloud_mse})
    assert patch_loss(out, louder, "cloud") == pytest.approx(
        float(patch_loss(out, sample, "cloud")) / 4, rel=0.05
    )
    with pytest.raises(ValueError, match="loss kind"):
        patch_loss(out, sample, "pixel")


def test_sampler_draws_equal_patches_from_the_triples():
    sampler = PatchSampler([_triple("a", 40, 0), _triple("b", 22, 1)], 100, seed=3)
    sample = sampler.sample(5)
    assert sample.xyz.shape == (5, 100, 3) and sample.decoded.shape == (500, 3)
    assert set(sample.qp.tolist()) <= {40, 22}
    with pytest.raises(InputError):
        PatchSampler([], 100, seed=0)


def test_split_by_scan_keeps_held_out_scans_out(tmp_path):
    for i in range(8):
        (tmp_path / f"learn{i}.pcd").write_bytes(b"")
    train, val = split_scans(tmp_path, ["learn0", "learn7"], ["learn3"], max_train=3)
    assert [p.stem for p in val] == ["learn3"]
    names = [p.stem for p in train]
    assert len(names) == 3 and not {"learn0", "learn7", "learn3"} & set(names)
    with pytest.raises(InputError):
        split_scans(tmp_path, [], ["learn99"], 0)
    with pytest.raises(InputError):
        split_scans(tmp_path / "nope", [], ["learn3"], 0)


def test_match_order_aligns_lossless_geometry():
    xyz = _triple("a", 40, 0).xyz
    perm = np.random.default_rng(0).permutation(len(xyz))
    np.testing.assert_array_equal(xyz[match_order(xyz, xyz[perm])], xyz[perm])
    with pytest.raises(InputError):
        match_order(xyz, xyz + 1)


def test_cli_wires_train_msgat():
    args = nmc_parser().parse_args(["train", "msgat", "--data", "d", "-o", "m.pt", "--steps", "5"])
    assert args.handler.__name__ == "_train_msgat" and args.steps == 5
    assert json.dumps({"steps": args.steps})
