"""What the registry and the ``nmc`` command know about the point-cloud codec without importing
it (see :mod:`nmc.video.descriptor`)."""

from __future__ import annotations

from nmc.pointcloud.io import INPUT_SUFFIXES

NAME = "pointcloud"
CODEC_ID = 2
CODEC_MODULE = "nmc.pointcloud.codec"

OPTIONS = {
    "qp": "G-PCC attribute QP of luma, 4..63 (CTC: 51 46 40 34 28 22; default 34)",
    "chroma_qp_offset": "QP offset of Cb and Cr (default -1, as G-PCC's CTC)",
    "bits": "quantize coordinates to this grid depth, 1..21 (default: integer coordinates "
    "kept exactly, float ones on a 10-bit grid)",
    "postfilter": "colour post-filter: msgat (default) or none (encode: the decoder's default)",
    "filter_adapt": "auto (default): tune MS-GAT to the cloud (network step included), send "
    "the update when it pays; heads: only the head and strengths (faster); off",
}
__all__ = ["CODEC_ID", "CODEC_MODULE", "INPUT_SUFFIXES", "NAME", "OPTIONS"]
