"""One direction of dependency: the codecs never import the evaluation harness (DESIGN.md § 1);
what both need (PSNR of planes, colour conversions, frame readers) lives in nmc.media."""

from __future__ import annotations

import subprocess
import sys


def test_codecs_do_not_import_the_harness():
    code = (
        "import sys\n"
        "import nmc.video.codec, nmc.pointcloud.codec\n"
        "print([m for m in sys.modules if m.startswith('nmc.eval')])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
