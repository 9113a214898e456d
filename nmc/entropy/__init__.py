"""Entropy coding (rANS) of integer tensors and symbol streams.

Stateless: :func:`encode_tensor` / :func:`decode_tensor` (one tensor, parametric or histogram
model chosen per tensor or channel), :func:`encode_symbols` / :func:`decode_symbols` (symbols
with contexts, tables adapted between blocks, one stream per call). Stateful:
:class:`AdaptiveEncoder` / :class:`AdaptiveDecoder` code any number of dependent passes of binary
symbols into one stream with :class:`ContextModel` statistics that persist across passes.
"""

from nmc.entropy.adaptive import AdaptiveDecoder, AdaptiveEncoder, ContextModel, ContextState
from nmc.entropy.context_coder import decode_symbols, encode_symbols
from nmc.entropy.tensor_codec import decode_tensor, encode_tensor, tensor_bits

__all__ = [
    "AdaptiveDecoder",
    "AdaptiveEncoder",
    "ContextModel",
    "ContextState",
    "decode_symbols",
    "decode_tensor",
    "encode_symbols",
    "encode_tensor",
    "tensor_bits",
]
