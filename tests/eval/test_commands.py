"""``nmc eval``, ``nmc bdrate`` and ``nmc datasets`` as registered by ``register(subparsers)``."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import pytest

from nmc.errors import InputError
from nmc.eval.commands import register


def _run(argv: list[str]) -> int:
    """Parse and run like ``nmc.cli`` does (it adds -q / --json to subcommands lacking them)."""
    parser = argparse.ArgumentParser(prog="nmc")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    for action in sub.choices.values():
        known = action._option_string_actions
        if "--quiet" not in known:
            action.add_argument("-q", "--quiet", action="store_true")
        if "--json" not in known:
            action.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return args.handler(args)


def _write_curve(path: Path, rates, values, codec: str = "c", dataset: str = "d") -> Path:
    path.write_text(
        "".join(
            json.dumps({"dataset": dataset, "codec": codec, "bpp": r, "psnr_yuv": v}) + "\n"
            for r, v in zip(rates, values)
        )
    )
    return path


ANCHOR = ([0.0121, 0.0181, 0.0588, 0.2549], [26.47, 28.97, 34.50, 40.93])
TEST = ([0.0172, 0.0234, 0.0537, 0.1944], [26.38, 28.36, 33.01, 39.07])


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bdrate_json_agrees_with_bjontegaard(tmp_path: Path, capsys, method: str) -> None:
    bjontegaard = pytest.importorskip("bjontegaard")
    anchor = _write_curve(tmp_path / "a.jsonl", *ANCHOR)
    test = _write_curve(tmp_path / "t.jsonl", *TEST)
    assert _run(["bdrate", str(anchor), str(test), "--method", method, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"bd_rate", "bd_psnr"}
    expected = bjontegaard.bd_rate(*ANCHOR, *TEST, method=method, min_overlap=0)
    assert out["bd_rate"] == pytest.approx(expected, abs=1e-6)
    expected = bjontegaard.bd_psnr(*ANCHOR, *TEST, method=method, min_overlap=0)
    assert out["bd_psnr"] == pytest.approx(expected, abs=1e-6)


def test_bdrate_picks_curves_from_a_campaign_file(tmp_path: Path, capsys) -> None:
    both = tmp_path / "rd.jsonl"
    _write_curve(tmp_path / "a.jsonl", *ANCHOR, codec="x265")
    _write_curve(tmp_path / "t.jsonl", *TEST, codec="x264")
    both.write_text((tmp_path / "a.jsonl").read_text() + (tmp_path / "t.jsonl").read_text())
    with pytest.raises(InputError, match="several curves"):
        _run(["bdrate", str(both), str(both)])
    argv = ["bdrate", str(both), str(both), "--anchor-codec", "x265", "--test-codec", "x264"]
    assert _run([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bd_rate"] > 0
    with pytest.raises(InputError, match="lacks"):
        _run([*argv, "--metric", "ms_ssim_y"])


def test_eval_end_to_end_then_cached(carphone: Path, tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        textwrap.dedent(
            """
            kind = "video"
            reference = "x264"
            [[codec]]
            name = "x264"
            anchor = "x264"
            rates = [24, 32, 40, 48]
            [[codec]]
            name = "svtav1"
            anchor = "svtav1"
            rates = [30, 42, 54, 63]
            """
        )
    )
    out = tmp_path / "out"
    argv = ["eval", "video", "--data", str(carphone), "--frames", "3", "-o", str(out)]
    argv += ["--recipe", str(recipe), "--jobs", "1", "--json"]
    assert _run(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == 8 and summary["cached"] == 0
    for name in ("rd.jsonl", "bdrate.md", "bdrate.csv", "rd.png", "rd.svg", "report.md"):
        assert (out / name).is_file(), name
    assert "svtav1" in (out / "bdrate.md").read_text()
    assert _run(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == 0 and summary["cached"] == 8


def test_eval_rejects_a_recipe_of_the_other_kind(tmp_path: Path) -> None:
    recipe = tmp_path / "pc.toml"
    recipe.write_text('kind = "pointcloud"\n[[codec]]\ntmc3 = true\nrates = [51]\n')
    with pytest.raises(InputError, match="pointcloud recipe"):
        _run(["eval", "video", "-o", str(tmp_path), "--recipe", str(recipe)])


def test_datasets_list_and_path(carphone: Path, capsys) -> None:
    assert _run(["datasets", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"uvg", "mcl-jcv", "xiph-derf", "8ivfb-v2", "mvub", "carphone", "osd"} <= set(rows)
    assert rows["carphone"]["status"] == "local"
    assert _run(["datasets", "path", "carphone"]) == 0
    assert Path(capsys.readouterr().out.strip()) == carphone
    with pytest.raises(InputError, match="no direct download"):
        _run(["datasets", "fetch", "mcl-jcv"])
