"""Shipped network priors: the trained networks an I frame's coded weights step from, and the
context model of P frames' residual latents.

An I frame's synthesis and context model are a few hundred weights, each coded at several bits:
on a QCIF frame that fixed cost is 10-20 % of the file. nmc ships, for each default network
shape, a *prior*: synthesis and context weights trained jointly on real frames (their latents
fitted per frame, the networks shared; ``tools/train_video_prior.py``). The encoder starts an
I frame's fit from the prior and codes only the difference (:mod:`nmc.video.network_coder`),
so weights the frame leaves at the prior cost almost nothing; the rate term of the fit sees
exactly that difference.

P frames code residual latents, which are mostly zero with a few spikes where the motion
prediction misses: their statistics are not an I frame's, so an I frame's context model spends
bits on every zero. The prior also holds a context model fitted to the residual latents of
real P frames (``tools/train_video_prior.py --residual``); streams with the shipped prior code
their residuals with it, at no cost in the stream.

The codec header records which prior a file uses (:data:`PRIOR_NONE` or
:data:`PRIOR_SHIPPED`); a decoder rebuilds the same float32 values from the same file, so
the decoded weights are ``prior + q * step`` bit for bit on both sides. Custom network shapes
(no shipped prior) code their weights against zero, as before priors existed.

File ``nmc/models/video_prior_v1.pt`` (``torch.load(weights_only=True)``)::

    {"format": "nmc-video-prior", "version": 1,
     "priors": {signature: {"synthesis.*" / "context.*" name: float32 tensor}},
     "residual_contexts": {signature: {"context.*" name: float32 tensor}},
     "records": {signature: JSON-able training record}}
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
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


@dataclass(frozen=True)
class NetworkPrior:
    """The shipped prior of one network shape (CPU float32 tensors).

    Attributes:
        networks: ``synthesis.*`` and ``context.*`` tensors an I frame's weights step from.
        residual_context: ``context.*`` tensors of the P frames' residual context model.
    """

    networks: State
    residual_context: State


def _load(path: Path) -> dict:
    """The prior file's contents (cached until the file changes)."""
    stamp = path.stat().st_mtime_ns if path.exists() else None
    return _read(path, stamp)


@functools.lru_cache(maxsize=4)
def _read(path: Path, stamp: int | None) -> dict:
    if stamp is None:
        return {"priors": {}, "residual_contexts": {}, "records": {}}
    data = torch.load(path, map_location="cpu", weights_only=True)
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"{path}: not a {FORMAT} version {VERSION} file")
    return data


def shipped_prior(spec: FrameSpec, path: Path | None = None) -> NetworkPrior | None:
    """The shipped prior for ``spec``'s network shape (copies), or None if nmc ships none
    for it (``path``: another prior file than nmc's)."""
    path = PRIOR_FILE if path is None else path
    data = _load(path)
    networks = data["priors"].get(signature(spec))
    residual = data.get("residual_contexts", {}).get(signature(spec))
    if networks is None or residual is None:
        return None
    expected = network_shapes(spec)
    context = {n: s for n, s in expected.items() if n.startswith("context.")}
    if _shapes(networks) != expected or _shapes(residual) != context:
        raise ValueError(f"{path}: prior {signature(spec)} does not match its network shapes")
    return NetworkPrior(_copy(networks, expected), _copy(residual, context))


def _shapes(state: State) -> dict[str, tuple[int, ...]]:
    return {n: tuple(t.shape) for n, t in state.items()}


def _copy(state: State, order: dict[str, tuple[int, ...]]) -> State:
    return {n: state[n].detach().float().clone() for n in order}


def prior_for_stream(prior_id: int, spec: FrameSpec) -> NetworkPrior | None:
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
