"""The G-PCC anchor wrapper, against a stand-in ``tmc3`` that speaks its command line and log."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nmc.errors import DependencyError, InputError
from nmc.eval.campaign import run_campaign
from nmc.eval.clouds import Cloud, voxelize, write_ply
from nmc.eval.recipe import parse_recipe
from nmc.eval.tmc3 import find_tmc3, run_tmc3

# Encoder: copies the PLY into the "bitstream" and logs sizes like tmc3 (two slices of colour).
# Decoder: writes the cloud back as ASCII PLY with every colour value raised by 2.
FAKE_TMC3 = """\
import sys
import numpy as np
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
if args["mode"] == "0":
    assert args["transformType"] == "0" and args["convertPlyColourspace"] == "1"
    data = open(args["uncompressedDataPath"], "rb").read()
    open(args["compressedStreamPath"], "wb").write(data)
    print("positions bitstream size 1000 B (1.0 bpp)")
    print("colors bitstream size 300 B (0.3 bpp)")
    print("colors bitstream size 200 B (0.2 bpp)")
else:
    data = open(args["compressedStreamPath"], "rb").read()
    head, body = data.split(b"end_header\\n", 1)
    count = int(head.split(b"element vertex ")[1].split(b"\\n")[0])
    rec = np.frombuffer(body, dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)], count=count)
    lines = ["ply", "format ascii 1.0", f"element vertex {count}",
             "property float x", "property float y", "property float z",
             "property uchar red", "property uchar green", "property uchar blue", "end_header"]
    rgb = np.minimum(rec["rgb"].astype(int) + 2, 255)
    lines += [" ".join(map(str, [*map(int, p), *c])) for p, c in zip(rec["xyz"], rgb)]
    open(args["reconstructedDataPath"], "w").write("\\n".join(lines) + "\\n")
"""


@pytest.fixture
def fake_tmc3(tmp_path: Path) -> str:
    script = tmp_path / "tmc3"
    script.write_text(f"#!{sys.executable}\n{FAKE_TMC3}")
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def cloud() -> Cloud:
    rng = np.random.default_rng(0)
    return voxelize(rng.uniform(0, 1, (400, 3)), rng.uniform(0.1, 0.9, (400, 3)), bits=6)


def test_missing_tmc3_is_a_dependency_error(tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match="--tmc3"):
        find_tmc3(None)
    with pytest.raises(DependencyError, match="not an executable"):
        find_tmc3(str(tmp_path / "nope"))


def test_run_tmc3_parses_sizes_and_decodes(fake_tmc3: str, cloud: Cloud) -> None:
    out = run_tmc3(find_tmc3(fake_tmc3), cloud, 34)
    assert out.attribute_bits == 8 * 500 and out.geometry_bits == 8 * 1000
    assert out.total_bits > 0
    np.testing.assert_array_equal(np.sort(out.decoded.xyz, axis=0), np.sort(cloud.xyz, axis=0))
    with pytest.raises(InputError, match="4..51"):
        run_tmc3(fake_tmc3, cloud, 60)


def test_pointcloud_campaign_with_tmc3_and_published_points(
    fake_tmc3: str, cloud: Cloud, tmp_path: Path
) -> None:
    source = tmp_path / "blob.ply"
    write_ply(source, cloud)
    published = tmp_path / "published.jsonl"
    published.write_text(
        "".join(
            f'{{"cloud": "blob", "qp": {qp}, "attr_bpp": {bpp}, "psnr_yuv": {q}}}\n'
            for qp, bpp, q in ((51, 0.5, 30.0), (46, 1.0, 33.0), (40, 2.0, 36.0), (34, 4.0, 39.0))
        )
    )
    recipe = parse_recipe(
        textwrap.dedent(
            f"""
            kind = "pointcloud"
            datasets = ["{source}"]
            reference = "published"
            [[codec]]
            name = "published"
            points = "{published}"
            rates = [51, 46, 40, 34]
            [[codec]]
            name = "tmc3"
            tmc3 = true
            rates = [51, 46]
            """
        )
    )
    outcome = run_campaign(recipe, tmp_path / "out", tmc3=fake_tmc3, progress=False)
    assert not outcome.failures and outcome.computed == 6
    live = [r for r in outcome.records if r["codec"] == "tmc3"]
    assert all(r["geometry_lossless"] and r["bpp"] == 8 * 500 / cloud.points for r in live)
    assert all(r["psnr_y"] == pytest.approx(10 * np.log10(255**2 / 4)) for r in live)
    assert {r["bpp"] for r in outcome.records if r["codec"] == "published"} == {0.5, 1.0, 2.0, 4.0}
