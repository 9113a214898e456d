"""Shipped network priors: the trained networks an I frame's coded weights step from, and the
context model of P frames' residual latents.

An I frame's synthesis and context model are a few hundred weights, each coded at several bits:
on a QCIF frame that fixed cost is 10-20 % of the file. nmc ships, for each default network
shape, a *prior*: synthesis and context weights trained jointly on real frames (their latents
fitted per frame, the networks shared; ``tools/train_video_prior.py``). The encoder starts an
I frame's fit from the prior and codes only the difference (:mod:`nmc.video.network_coder`),
so weights the frame leaves at the prior cost almost nothing; the rate term of the fit sees
exactly that difference.

P frames code their residual latents with their group's I-frame context model. Streams
of nmc before session 18 coded them with a separate residual context model from the prior file
(``residual_contexts``, header id :data:`PRIOR_SHIPPED`); it had been fitted to P frames whose
encoder had dropped nearly every residual latent, so it priced any nonzero latent at ~16 bits
and kept fast motion (bikes-cyclist) from using them. The file keeps those models so such
streams still decode; nmc now writes :data:`PRIOR_LOW_RATE` or :data:`PRIOR_HIGH_RATE` (below).

Each default shape has three priors: one trained over the whole quality ladder
(:data:`PRIOR_SHIPPED_NETWORKS`, what header versions 6-8 step from) and, since header version
9, one for each half of it (:data:`PRIOR_LOW_RATE`: qualities 1-4, :data:`PRIOR_HIGH_RATE`:
5-8). A frame at a high rate moves its networks further from a prior trained for every rate
than from one trained at its own end of the ladder, and pays for the difference in network
bits (conv, carphone frame 80 at quality 8: 3,136 -> 2,112 bits) and in a worse start.

The codec header records which prior a file uses (:data:`PRIOR_NONE`, one of the three
above, or the older :data:`PRIOR_SHIPPED`); a decoder rebuilds the same float32 values from
the same file, so the decoded weights are ``prior + q * step`` bit for bit on both sides.
Custom network shapes (no shipped prior) code their weights against zero, as before priors
existed. A shape's signature (:func:`signature`) names the context model's positional inputs
(``c32.32p``: header version 7), so the 17-input priors that version 6 streams step from stay
in the file beside them.

File ``nmc/models/video_prior_v1.pt`` (``torch.load(weights_only=True)``)::

    {"format": "nmc-video-prior", "version": 1,
     "priors": {key: {"synthesis.*" / "context.*" name: float32 tensor}},  # prior_key()
     "residual_contexts": {signature: {"context.*" name: float32 tensor}},  # PRIOR_SHIPPED
     "records": {key: JSON-able training record}}
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from nmc.errors import BitstreamError
from nmc.video.frame_model import FrameSpec
from nmc.video.intra import network_shapes

FORMAT = "nmc-video-prior"
VERSION = 1
PRIOR_NONE, PRIOR_SHIPPED, PRIOR_SHIPPED_NETWORKS, PRIOR_LOW_RATE, PRIOR_HIGH_RATE = range(5)
PRIOR_NAMES = ("none", "shipped", "shipped-networks", "shipped-low-rate", "shipped-high-rate")
"""Header ids: no prior; the shipped networks and residual context model (streams before
session 18); the shipped networks trained over the whole quality ladder (residual latents
under the I frame's context model, as for the next two); the shipped networks trained at the
low-rate half of the ladder (qualities 1-4); at the high-rate half (5-8). The last two are
video header version 9."""
RATE_CLASSES = {PRIOR_SHIPPED_NETWORKS: "", PRIOR_LOW_RATE: "low", PRIOR_HIGH_RATE: "high"}
"""The prior file's key suffix (``signature@suffix``) of each header id's networks."""
HIGH_RATE_LAMBDA = 1.5e-3
"""Rate weights below this (qualities 5-8 of the ladder: 1e-3 and less; quality 4 is 2e-3)
step from the high-rate prior, the others from the low-rate one."""
PRIOR_FILE = Path(__file__).resolve().parent.parent / "models" / "video_prior_v1.pt"

State = dict[str, torch.Tensor]


def signature(spec: FrameSpec) -> str:
    """The network shape of ``spec`` (frame size excluded): ``conv-L7-r1-h8-c32.32p`` (``p``:
    a context model with positional inputs)."""
    hidden = ".".join(map(str, spec.synthesis.hidden))
    context = ".".join(map(str, spec.context.hidden)) + ("p" if spec.context.positional else "")
    upsample = f"-u{spec.synthesis.upsample}" if spec.synthesis.upsample else ""
    return f"{spec.family}-L{spec.levels}-r{spec.synthesis.refine}-h{hidden}{upsample}-c{context}"


@dataclass(frozen=True)
class NetworkPrior:
    """The shipped prior of one network shape (CPU float32 tensors).

    Attributes:
        networks: ``synthesis.*`` and ``context.*`` tensors an I frame's weights step from.
        residual_context: ``context.*`` tensors of the residual context model that streams
            with header id :data:`PRIOR_SHIPPED` code their P frames' residual latents with;
            None where the file has none for this shape, or the stream does not use it.
    """

    networks: State
    residual_context: State | None


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


def prior_key(spec: FrameSpec, prior_id: int = PRIOR_SHIPPED_NETWORKS) -> str:
    """The prior file's key of the networks header id ``prior_id`` (one of
    :data:`RATE_CLASSES`) names for ``spec``: ``conv-L7-r1-h8-u8-c32.32p@high``."""
    suffix = RATE_CLASSES[prior_id]
    return signature(spec) + (f"@{suffix}" if suffix else "")


def shipped_prior(
    spec: FrameSpec, path: Path | None = None, prior_id: int = PRIOR_SHIPPED_NETWORKS
) -> NetworkPrior | None:
    """The shipped prior for ``spec``'s network shape (copies), or None if nmc ships none
    for it (``path``: another prior file than nmc's; ``prior_id``: which of the shape's
    priors, :data:`RATE_CLASSES`; the residual context model only comes with the
    whole-ladder one)."""
    path = PRIOR_FILE if path is None else path
    data = _load(path)
    networks = data["priors"].get(prior_key(spec, prior_id))
    residual = None
    if prior_id == PRIOR_SHIPPED_NETWORKS:
        residual = data.get("residual_contexts", {}).get(signature(spec))
    if networks is None:
        return None
    expected = network_shapes(spec)
    context = {n: s for n, s in expected.items() if n.startswith("context.")}
    if _shapes(networks) != expected or (residual is not None and _shapes(residual) != context):
        raise ValueError(f"{path}: prior {signature(spec)} does not match its network shapes")
    residual = None if residual is None else _copy(residual, context)
    return NetworkPrior(_copy(networks, expected), residual)


def _shapes(state: State) -> dict[str, tuple[int, ...]]:
    return {n: tuple(t.shape) for n, t in state.items()}


def _copy(state: State, order: dict[str, tuple[int, ...]]) -> State:
    return {n: state[n].detach().float().clone() for n in order}


def encoder_prior(spec: FrameSpec, lam: float) -> tuple[int, NetworkPrior | None]:
    """The header id and prior an encode at rate weight ``lam`` steps from: the shape's prior
    for its half of the quality ladder (:data:`HIGH_RATE_LAMBDA`), else its whole-ladder
    prior, else none (:data:`PRIOR_NONE`, weights coded against zero)."""
    rate_class = PRIOR_HIGH_RATE if lam < HIGH_RATE_LAMBDA else PRIOR_LOW_RATE
    for prior_id in (rate_class, PRIOR_SHIPPED_NETWORKS):
        prior = shipped_prior(spec, prior_id=prior_id)
        if prior is not None:
            return prior_id, replace(prior, residual_context=None)
    return PRIOR_NONE, None


def prior_for_stream(prior_id: int, spec: FrameSpec) -> NetworkPrior | None:
    """The prior a stream's header names (decoder side); BitstreamError if unknown or absent."""
    if prior_id == PRIOR_NONE:
        return None
    networks_id = PRIOR_SHIPPED_NETWORKS if prior_id == PRIOR_SHIPPED else prior_id
    prior = shipped_prior(spec, prior_id=networks_id)
    if prior is None or (prior_id == PRIOR_SHIPPED and prior.residual_context is None):
        raise BitstreamError(
            f"video codec header: the stream steps from the shipped prior "
            f"{prior_key(spec, networks_id)}, which this nmc does not have"
        )
    return prior if prior_id == PRIOR_SHIPPED else replace(prior, residual_context=None)
