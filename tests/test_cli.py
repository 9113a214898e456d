import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import nmc
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


# --- Output failures: one line on stderr, exit 2, and nothing left behind ----------------------

REPO = Path(__file__).resolve().parents[1]
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


@pytest.fixture(scope="module")
def cloud_file(tmp_path_factory) -> Path:
    """A small real .nmc point-cloud file (about 2,500 points)."""
    from nmc.pointcloud.samples import textured_surface

    path = tmp_path_factory.mktemp("cloud") / "surface.nmc"
    nmc.encode(textured_surface(samples=50, bits=6), path, postfilter="none", progress=False)
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _without_root_override() -> None:
    """In a child about to exec: drop root's power to write anywhere (read-only folders then
    stop root as they stop everyone else). Needs CAP_SETPCAP, which root has."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _run_nmc(
    args: list[str], file_size_limit: int | None = None, drop_root: bool = False, script: str = ""
) -> subprocess.CompletedProcess:
    """``nmc ARGS`` in a child process (optionally under RLIMIT_FSIZE, or without root's
    override of file permissions); ``script`` runs first (e.g. to arrange an interruption)."""

    def prepare() -> None:
        # A test run started in the background inherits an ignored SIGINT, and Python then
        # installs no KeyboardInterrupt handler: give the child a terminal's default.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
        if drop_root:
            _without_root_override()

    code = f"import sys\n{script}\nfrom nmc.cli import main\nsys.exit(main({args!r}))\n"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=prepare,
    )


def _one_error_line(out: subprocess.CompletedProcess, code: int, *words: str) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == code, out.stderr
    assert len(lines) == 1 and lines[0].startswith("nmc: "), out.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_missing_output_folder_is_one_line_exit_2(cloud_file, tmp_path, capsys):
    target = tmp_path / "no" / "such" / "out.ply"
    assert main(["decode", str(cloud_file), "-o", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    assert _leftovers(tmp_path) == []


def test_encode_refuses_a_bad_output_before_encoding(tmp_path, capsys):
    from nmc.pointcloud.samples import textured_surface

    cloud = textured_surface(samples=30, bits=5)
    source = tmp_path / "in.ply"
    nmc.pointcloud.write_ply(source, cloud.xyz, cloud.rgb)
    assert main(["encode", str(source), "-o", str(tmp_path / "missing" / "x.nmc")]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "does not exist" in out.err  # no summary: nothing was encoded


def test_output_that_is_a_folder_is_one_line_exit_2(cloud_file, tmp_path, capsys):
    folder = tmp_path / "out.ply"
    folder.mkdir()
    assert main(["decode", str(cloud_file), "-o", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder" in err[0]
    assert _leftovers(folder) == []


def test_unwritable_output_folder_is_one_line_exit_2(cloud_file, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        out = _run_nmc(["decode", str(cloud_file), "-o", str(folder / "o.ply")], drop_root=True)
    finally:
        folder.chmod(0o755)
    _one_error_line(out, 2, "not writable")
    assert _leftovers(folder) == []


@pytest.mark.parametrize("command", ["decode", "encode"])
def test_disk_full_is_one_line_exit_2_and_leaves_no_part_file(cloud_file, tmp_path, command):
    """RLIMIT_FSIZE makes the write fail part way (EFBIG), as a full disk does (ENOSPC)."""
    if command == "decode":
        target, args = tmp_path / "out.ply", ["decode", str(cloud_file)]
    else:
        source = tmp_path / "in.ply"
        decoded = nmc.decode(cloud_file)
        nmc.pointcloud.write_ply(source, decoded.xyz, decoded.rgb)
        target, args = tmp_path / "out.nmc", ["encode", str(source), "--postfilter", "none"]
    out = _run_nmc([*args, "-o", str(target), "-q"], file_size_limit=1024)
    _one_error_line(out, 2, f"cannot write {target}", "file-size limit")
    assert sorted(p.name for p in tmp_path.iterdir()) == (["in.ply"] if command == "encode" else [])


def test_ctrl_c_during_a_write_leaves_nothing(cloud_file, tmp_path):
    """A real SIGINT arrives while the output is half written."""
    target = tmp_path / "out.ply"
    interrupt = (
        "import os, signal\n"
        "from nmc.bitstream import AtomicFile\n"
        "write = AtomicFile.write\n"
        "def interrupted(self, data):\n"
        "    write(self, data[: len(data) // 2])\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    write(self, data[len(data) // 2 :])\n"
        "AtomicFile.write = interrupted\n"
    )
    out = _run_nmc(["decode", str(cloud_file), "-o", str(target), "-q"], script=interrupt)
    _one_error_line(out, 130, "interrupted")
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="needs Linux's unnamed files")
def test_process_killed_during_a_write_leaves_nothing(tmp_path):
    """SIGKILL cannot be caught: the half-written output must have had no name at all."""
    script = (
        "import os, signal, sys\n"
        "from nmc.bitstream import ContainerWriter\n"
        "writer = ContainerWriter(sys.argv[1], 2, b'header')\n"
        "writer.write_chunk('GEOM', bytes(1 << 20))  # more than a buffer: on disk now\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "x.nmc")], cwd=REPO)
    assert out.returncode == -signal.SIGKILL
    assert _leftovers(tmp_path) == []


def test_damaged_input_is_exit_1_and_writes_nothing(cloud_file, tmp_path, capsys):
    data = bytearray(cloud_file.read_bytes())
    data[len(data) // 2] ^= 0x10
    damaged = tmp_path / "damaged.nmc"
    damaged.write_bytes(bytes(data))
    assert main(["decode", str(damaged), "-o", str(tmp_path / "out.ply")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CRC" in err[0]
    assert _leftovers(tmp_path) == ["damaged.nmc"]
