"""Entropy coding of integer tensors and context-modelled symbol streams (rANS)."""

from nmc.entropy.context_coder import decode_symbols, encode_symbols
from nmc.entropy.tensor_codec import decode_tensor, encode_tensor, tensor_bits

__all__ = ["decode_symbols", "decode_tensor", "encode_symbols", "encode_tensor", "tensor_bits"]
