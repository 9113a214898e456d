"""Campaigns: recipes, caching, resume after a kill, reports, executors, the nmc-codec path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nmc.errors import InputError
from nmc.eval.campaign import RD_FILE, plan, run_campaign
from nmc.eval.recipe import default_recipe, load_recipe, parse_recipe
from nmc.eval.report import write_report
from nmc.eval.results import read_points

REPO = Path(__file__).resolve().parents[2]


def _recipe(
    carphone: Path,
    frames: int = 3,
    extra: str = "",
    x265_preset: str = "ultrafast",
    x265_rates: str = "[24, 32, 40, 48]",
) -> str:
    """Two anchors on the carphone clip; ``extra`` appends TOML (more codecs)."""
    return textwrap.dedent(
        f"""
        kind = "video"
        datasets = ["{carphone}"]
        frames = {frames}
        reference = "x264"

        [[codec]]
        name = "x264"
        anchor = "x264"
        rates = [24, 32, 40, 48]

        [[codec]]
        name = "x265-fast"
        anchor = "x265"
        preset = "{x265_preset}"
        rates = {x265_rates}
        {extra}
        """
    )


def test_recipe_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="kind must be"):
        parse_recipe('kind = "audio"\n[[codec]]\nanchor = "x264"\nrates = [1]')
    with pytest.raises(InputError, match="exactly one of"):
        parse_recipe('kind = "video"\n[[codec]]\nanchor = "x264"\ncodec = "video"\nrates = [1]')
    with pytest.raises(InputError, match="rates must be"):
        parse_recipe('kind = "video"\n[[codec]]\nanchor = "x264"\nrates = []')
    with pytest.raises(InputError, match="reference"):
        parse_recipe('kind = "video"\nreference = "x"\n[[codec]]\nanchor = "x264"\nrates = [1]')
    with pytest.raises(InputError, match="not valid TOML"):
        parse_recipe("kind = ")
    with pytest.raises(InputError, match="cannot read recipe"):
        load_recipe(tmp_path / "missing.toml")


def test_built_in_and_committed_recipes_parse() -> None:
    video = default_recipe("video")
    assert [c.name for c in video.codecs] == ["x264", "x265", "svtav1", "nmc"]
    assert all(len(c.rates) >= 4 for c in video.codecs)
    assert default_recipe("pointcloud").reference == "tmc13-v23"
    for path in sorted((REPO / "eval").glob("*.toml")):
        assert load_recipe(path).codecs


def test_changed_settings_change_point_keys(carphone: Path) -> None:
    base, _ = plan(parse_recipe(_recipe(carphone)))
    slower, _ = plan(parse_recipe(_recipe(carphone, x265_preset="fast")))
    assert [t.key for t in base[:4]] == [t.key for t in slower[:4]]  # x264 unchanged
    assert not {t.key for t in base[4:]} & {t.key for t in slower[4:]}


def test_campaign_writes_points_reuses_them_and_reports(carphone: Path, tmp_path: Path) -> None:
    recipe = parse_recipe(_recipe(carphone))
    first = run_campaign(recipe, tmp_path, progress=False)
    assert (first.computed, first.cached, first.failures) == (8, 0, [])
    records = read_points(tmp_path / RD_FILE)
    assert len(records) == 8 and {r["codec"] for r in records} == {"x264", "x265-fast"}
    assert all(r["frames"] == 3 and r["bpp"] > 0 and r["psnr_yuv"] > 20 for r in records)

    second = run_campaign(recipe, tmp_path, progress=False)
    assert (second.computed, second.cached) == (0, 8)
    assert read_points(tmp_path / RD_FILE) == records

    written = write_report(tmp_path, recipe, second.records, command="nmc eval video ...")
    names = {p.name for p in written}
    assert names == {"bdrate.md", "bdrate.csv", "rd.png", "rd.svg", "report.md"}
    table = (tmp_path / "bdrate.md").read_text()
    assert "x265-fast" in table and "n/a" not in table
    assert (tmp_path / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "BD-rate against x264" in (tmp_path / "report.md").read_text()


def test_unavailable_codecs_are_skipped_with_a_reason(carphone: Path, tmp_path: Path) -> None:
    extra = '[[codec]]\nname = "gpcc"\ntmc3 = true\nrates = [51, 46, 40, 34]'
    recipe = parse_recipe(_recipe(carphone, extra=extra))
    tasks, skipped = plan(recipe, tmc3=None)
    assert "gpcc" in skipped and "--tmc3" in skipped["gpcc"]
    assert len(tasks) == 8


def test_failed_points_are_reported_and_do_not_stop_the_campaign(
    carphone: Path, tmp_path: Path
) -> None:
    recipe = parse_recipe(_recipe(carphone, x265_rates="[24, 32, 40, 99]"))
    outcome = run_campaign(recipe, tmp_path, progress=False)
    assert outcome.computed == 7
    assert len(outcome.failures) == 1 and "CRF 99 outside" in outcome.failures[0]


def test_killed_run_keeps_every_finished_point_and_resumes(carphone: Path, tmp_path: Path) -> None:
    # x264 (fast) first, then six slow x265 points: the kill lands while x265 runs.
    recipe_path = tmp_path / "slow.toml"
    recipe_path.write_text(
        _recipe(carphone, 10, x265_preset="veryslow", x265_rates="[20, 24, 28, 32, 36, 40]")
    )
    out = tmp_path / "out"
    total = len(plan(load_recipe(recipe_path))[0])
    assert total == 10
    script = (
        "from nmc.eval.campaign import run_campaign\n"
        "from nmc.eval.recipe import load_recipe\n"
        f"run_campaign(load_recipe({str(recipe_path)!r}), {str(out)!r}, progress=False)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    rd = out / RD_FILE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if rd.exists() and len(rd.read_text().splitlines()) >= 5:  # x264 done, x265 under way
            break
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    before = read_points(rd)  # parses: no half-written line
    assert 5 <= len(before) < total, "the run finished before it could be killed"

    outcome = run_campaign(load_recipe(recipe_path), out, progress=False)
    assert outcome.cached == len(before) and outcome.computed == total - len(before)
    after = read_points(rd)
    assert after[: len(before)] == before
    assert len({r["key"] for r in after}) == total


def test_local_worker_processes(carphone: Path, tmp_path: Path) -> None:
    recipe = parse_recipe(_recipe(carphone))
    outcome = run_campaign(recipe, tmp_path, jobs=2, progress=False)
    assert outcome.computed == 8 and not outcome.failures


def test_nmc_codec_through_the_public_api(carphone: Path, tmp_path: Path) -> None:
    pytest.importorskip("nmc.video.codec")
    extra = textwrap.dedent(
        """
        [[codec]]
        name = "nmc-tiny"
        codec = "video"
        rate_option = "quality"
        rates = [2]
        options = { family = "mlp", intra_steps = 10, steps = 2 }
        """
    )
    recipe = parse_recipe(_recipe(carphone, frames=2, extra=extra))
    outcome = run_campaign(recipe, tmp_path, progress=False)
    assert not outcome.failures, outcome.failures
    (point,) = [r for r in outcome.records if r["codec"] == "nmc-tiny"]
    assert point["bits"] > 0 and point["frames"] == 2 and 5 < point["psnr_yuv"] < 60
    assert json.loads(json.dumps(point)) == point


def test_pointcloud_codec_step_uses_the_public_api(tmp_path: Path, monkeypatch) -> None:
    """The nmc point-cloud step against a stand-in codec behind nmc's public functions."""
    import numpy as np

    import nmc
    from nmc.eval.clouds import load_cloud, voxelize, write_ply
    from nmc.eval.points import PointTask, run_point
    from nmc.eval.recipe import CodecConfig

    rng = np.random.default_rng(0)
    source = tmp_path / "cloud.ply"
    write_ply(source, voxelize(rng.uniform(0, 1, (300, 3)), rng.uniform(0, 1, (300, 3)), 5))
    reference = load_cloud(str(source))
    calls = {}

    class Decoded:
        xyz = reference.xyz[::-1]
        rgb = np.minimum(reference.rgb[::-1].astype(int) + 1, 255).astype(np.uint8)

    def encode_with_report(src, **options):
        calls["encode"] = (src, options)
        return b"x" * 100, {}

    def decode_with_report(data, **options):
        return Decoded(), {}

    monkeypatch.setattr(nmc, "encode_with_report", encode_with_report)
    monkeypatch.setattr(nmc, "decode_with_report", decode_with_report)
    monkeypatch.setattr(
        nmc, "info", lambda data: {"attribute_bits": 480, "geometry_bits": 300, "points": 1}
    )
    codec = CodecConfig("nmc", "codec", "pointcloud", "qp", (34,), (("bits", 10),))
    record = run_point(PointTask("pointcloud", "cloud", str(source), 1, 0, codec, 34))
    assert calls["encode"] == (str(source), {"bits": 10, "qp": 34, "progress": False})
    assert record["bpp"] == 480 / reference.points and record["total_bits"] == 800
    assert record["geometry_lossless"] and record["nmc_version"] == nmc.__version__
    assert 40 < record["psnr_y"] < 60


def test_codec_fingerprint_follows_the_codec_sources(tmp_path: Path) -> None:
    from nmc.eval.fingerprint import codec_fingerprint

    for name in ("video/__init__.py", "weights/quant.py", "eval/report.py", "api.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    first = codec_fingerprint("video", tmp_path)
    (tmp_path / "video/__pycache__").mkdir()
    (tmp_path / "video/__pycache__/a.pyc").write_bytes(b"\0")
    (tmp_path / "eval/report.py").write_text("x = 2\n")  # the harness is not the codec
    assert codec_fingerprint("video", tmp_path) == first
    (tmp_path / "weights/quant.py").write_text("x = 2\n")
    assert codec_fingerprint("video", tmp_path) != first
    with pytest.raises(InputError, match="no nmc codec package"):
        codec_fingerprint("audio", tmp_path)


def test_changed_codec_sources_invalidate_cached_nmc_points(
    carphone: Path, tmp_path: Path, monkeypatch
) -> None:
    """Same code: the nmc point is reused; changed code: measured again; anchors stay cached."""
    import nmc
    from nmc.eval import campaign
    from nmc.media import read_frames

    pytest.importorskip("nmc.video.codec")
    decoded, _ = read_frames(carphone, 0, 2)
    monkeypatch.setattr(nmc, "encode_with_report", lambda src, **options: (b"x" * 100, {}))
    monkeypatch.setattr(nmc, "decode_with_report", lambda data, **options: (decoded, {}))
    sources = {"video": "aaaa"}
    monkeypatch.setattr(campaign, "codec_fingerprint", lambda codec: sources[codec])
    extra = '[[codec]]\nname = "nmc"\ncodec = "video"\nrates = [4]'
    recipe = parse_recipe(_recipe(carphone, frames=2, extra=extra))

    first = run_campaign(recipe, tmp_path, progress=False)
    again = run_campaign(recipe, tmp_path, progress=False)
    sources["video"] = "bbbb"
    changed = run_campaign(recipe, tmp_path, progress=False)
    assert (first.computed, again.computed, again.cached) == (9, 0, 9)
    assert (changed.computed, changed.cached) == (1, 8)
    (point,) = [r for r in changed.records if r["codec"] == "nmc"]
    assert point["nmc_source"] == "bbbb" and point["psnr_yuv"] == 100.0
    # the superseded point left the file too, so `nmc bdrate` on it sees one curve per codec
    stored = [r for r in read_points(tmp_path / "rd.jsonl") if r["codec"] == "nmc"]
    assert [r["nmc_source"] for r in stored] == ["bbbb"]
