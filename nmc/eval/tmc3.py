"""G-PCC anchor: the MPEG reference software TMC13 (``tmc3``), run as a subprocess.

Settings follow the common test condition C1 with RAHT (as the committed anchor points in
``../shared/data/anchors`` were made): octree geometry, lossless (``positionQuantizationScale=1``,
no duplicate merging), colour converted to YCbCr BT.709 inside the codec
(``convertPlyColourspace=1``), ``transformType=0`` (RAHT), ``qpChromaOffset=-1``, 8-bit colour.
The rate is read from tmc3's own log ("colors bitstream size N B"), the total from the file size.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nmc.errors import DependencyError, InputError
from nmc.eval.clouds import Cloud, read_ply_cloud, write_ply

C1_RAHT_OPTIONS = (
    "--positionQuantizationScale=1",
    "--mergeDuplicatedPoints=0",
    "--convertPlyColourspace=1",
    "--transformType=0",
    "--qpChromaOffset=-1",
    "--bitdepth=8",
    "--attribute=color",
)
_SIZE_LINE = re.compile(r"^(\w+?)s? bitstream size (\d+) B", re.MULTILINE)


@dataclass(frozen=True)
class Tmc3Output:
    """One tmc3 encode + decode.

    Attributes:
        attribute_bits: colour bitstream bits (from tmc3's log).
        geometry_bits: position bitstream bits (from tmc3's log).
        total_bits: size of the compressed file, bits.
        decoded: the decoder's reconstruction.
        encode_s, decode_s: wall-clock seconds.
    """

    attribute_bits: int
    geometry_bits: int
    total_bits: int
    decoded: Cloud
    encode_s: float
    decode_s: float


def find_tmc3(path: str | None) -> str:
    """The tmc3 executable given by ``--tmc3 PATH`` (a file or a name on PATH).

    Raises:
        DependencyError: no path given, or it is not an executable.
    """
    if not path:
        raise DependencyError(
            "the G-PCC anchor needs the TMC13 reference encoder: build mpeg-pcc-tmc13 and pass "
            "--tmc3 PATH/TO/tmc3"
        )
    found = shutil.which(path)
    if found is None:
        raise DependencyError(f"--tmc3 {path}: not an executable file")
    return found


def _run(command: list[str], what: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
    except OSError as exc:
        raise DependencyError(f"cannot run {command[0]} ({exc.strerror})") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise InputError(f"tmc3 {what} failed (exit {done.returncode}): {' | '.join(tail)}")
    return done.stdout


def run_tmc3(tmc3: str, cloud: Cloud, qp: int, extra: tuple[str, ...] = ()) -> Tmc3Output:
    """Encode ``cloud`` with tmc3 at attribute ``qp`` (C1, RAHT), decode it, parse the sizes.

    Args:
        tmc3: path of the executable (see :func:`find_tmc3`).
        cloud: the voxelized reference.
        qp: attribute QP (CTC: 51, 46, 40, 34, 28, 22).
        extra: further ``--option=value`` flags, appended last (they override the defaults).
    """
    if not 4 <= qp <= 51:
        raise InputError(f"G-PCC attribute QP must be in 4..51, got {qp}")
    with tempfile.TemporaryDirectory(prefix="nmc-tmc3-") as folder:
        work = Path(folder)
        source, stream, decoded = work / "in.ply", work / "stream.bin", work / "dec.ply"
        write_ply(source, cloud)
        started = time.perf_counter()
        log = _run(
            [
                tmc3,
                "--mode=0",
                f"--uncompressedDataPath={source}",
                f"--compressedStreamPath={stream}",
                *C1_RAHT_OPTIONS,
                f"--qp={qp}",
                *extra,
            ],
            "encode",
        )
        encode_s = time.perf_counter() - started
        started = time.perf_counter()
        _run(
            [
                tmc3,
                "--mode=1",
                f"--compressedStreamPath={stream}",
                f"--reconstructedDataPath={decoded}",
                "--convertPlyColourspace=1",
                "--outputBinaryPly=0",
            ],
            "decode",
        )
        decode_s = time.perf_counter() - started
        sizes: dict[str, int] = {}
        for label, size in _SIZE_LINE.findall(log):
            sizes[label] = sizes.get(label, 0) + int(size)
        if "color" not in sizes or "position" not in sizes:
            raise InputError("tmc3's log has no 'positions/colors bitstream size' lines")
        if not stream.is_file():
            raise InputError(f"tmc3 wrote no bitstream at {stream}")
        return Tmc3Output(
            attribute_bits=8 * sizes["color"],
            geometry_bits=8 * sizes["position"],
            total_bits=8 * stream.stat().st_size,
            decoded=read_ply_cloud(decoded),
            encode_s=encode_s,
            decode_s=decode_s,
        )
