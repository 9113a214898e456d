import json
import subprocess
import sys

import pytest

from nmc import __version__, info
from nmc.bitstream import Chunk, pack
from nmc.cli import main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out
    assert main([]) == 2


def test_unknown_input_type_is_one_line_and_exit_2(tmp_path, capsys):
    src = tmp_path / "notes.txt"
    src.write_text("hello")
    assert main(["encode", str(src), "-o", str(tmp_path / "x.nmc")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unsupported input type '.txt'" in err[0]
    assert not (tmp_path / "x.nmc").exists()


def test_missing_input_exit_2(tmp_path, capsys):
    assert main(["decode", str(tmp_path / "nope.nmc"), "-o", str(tmp_path / "o.y4m")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_info_names_damaged_chunk(tmp_path, capsys):
    data = bytearray(pack(999, b"h", [Chunk("AAAA", b"1234"), Chunk("BBBB", b"5678")]))
    path = tmp_path / "damaged.nmc"
    data[len(data) - 12 - 4 - 2] ^= 0xFF  # inside chunk 1's payload
    path.write_bytes(bytes(data))
    assert main(["info", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [c["kind"] for c in report["chunks"]] == ["AAAA"]
    assert "chunk 1 ('BBBB')" in report["error"] and "CRC" in report["error"]


def test_info_on_unknown_codec_lists_chunks():
    report = info(pack(999, b"h", [Chunk("AAAA", b"1234")]))
    assert report["codec"] == "unknown (id 999)"
    assert report["chunks"][0]["bytes"] == 4


def test_console_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "nmc.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("encode", "decode", "info", "demo"):
        assert command in out.stdout
