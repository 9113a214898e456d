"""Shipped network priors: the trained networks an I frame's coded weights step from.

An I frame's synthesis and context model are a few hundred weights, each coded at several bits:
on a QCIF frame that fixed cost is 10-20 % of the file. nmc ships, for each default network
shape, a *prior*: synthesis and context weights trained jointly on real frames (their latents
fitted per frame, the networks shared; ``tools/train_video_prior.py``). The encoder starts an
I frame's fit from the prior and codes only the difference (:mod:`nmc.video.network_coder`),
so weights the frame leaves at the prior cost almost nothing; the rate term of the fit sees
exactly that difference.

The codec header records which prior a file uses (:data:`PRIOR_NONE` or
:data:`PRIOR_SHIPPED`); a decoder rebuilds the same float32 values from the same file, so
the decoded weights are ``prior + q * step`` bit for bit on both sides. Custom network shapes
(no shipped prior) code their weights against zero, as before priors existed.

File ``nmc/models/video_prior_v1.pt`` (``torch.load(weights_only=True)``)::

    {"format": "nmc-video-prior", "version": 1,
     "priors": {signature: {"synthesis.*" / "context.*" name: float32 tensor}},
     "records": {signature: JSON-able training record}}
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from nmc.errors import BitstreamError
from nmc.video.frame_model import FrameSpec
from nmc.video.intra import network_shapes

FORMAT = "nmc-video-prior"
VERSION = 1
PRIOR_NONE, PRIOR_SHIPPED = 0, 1
PRIOR_NAMES = ("none", "shipped")
PRIOR_FILE = Path(__file__).resolve().parent.parent / "models" / "video_prior_v1.pt"

State = dict[str, torch.Tensor]


def signature(spec: FrameSpec) -> str:
    """The network shape of ``spec`` (frame size excluded): ``conv-L7-r1-h8-c8.8``."""
    hidden = ".".join(map(str, spec.synthesis.hidden))
    context = ".".join(map(str, spec.context.hidden))
    return f"{spec.family}-L{spec.levels}-r{spec.synthesis.refine}-h{hidden}-c{context}"


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> dict:
    if not path.exists():
        return {"priors": {}, "records": {}}
    data = torch.load(path, map_location="cpu", weights_only=True)
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"{path}: not a {FORMAT} version {VERSION} file")
    return data


def shipped_prior(spec: FrameSpec, path: Path = PRIOR_FILE) -> State | None:
    """The shipped networks for ``spec``'s shape (CPU float32 copies), or None if nmc ships
    none for it."""
    state = _load(path)["priors"].get(signature(spec))
    if state is None:
        return None
    expected = network_shapes(spec)
    if {n: tuple(t.shape) for n, t in state.items()} != expected:
        raise ValueError(f"{path}: prior {signature(spec)} does not match its network shapes")
    return {n: state[n].detach().float().clone() for n in expected}


def prior_for_stream(prior_id: int, spec: FrameSpec) -> State | None:
    """The prior a stream's header names (decoder side); BitstreamError if unknown or absent."""
    if prior_id == PRIOR_NONE:
        return None
    prior = shipped_prior(spec)
    if prior is None:
        raise BitstreamError(
            f"video codec header: the stream steps from the shipped prior of {signature(spec)}, "
            "which this nmc does not have"
        )
    return prior
