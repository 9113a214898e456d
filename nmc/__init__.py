"""nmc — neural media codecs.

Public API::

    nmc.encode(source, output=None, **options)   # video file / array, or point cloud
    nmc.decode(bytes_or_path, output=None, **options)
    nmc.info(bytes_or_path) -> dict

Errors: :class:`NmcError` and its subclasses :class:`BitstreamError`, :class:`InputError`,
:class:`DependencyError`.
"""

from nmc.api import decode, decode_with_report, encode, encode_with_report, info
from nmc.errors import BitstreamError, DependencyError, InputError, NmcError

__version__ = "0.1.0"

__all__ = [
    "BitstreamError",
    "DependencyError",
    "InputError",
    "NmcError",
    "__version__",
    "decode",
    "decode_with_report",
    "encode",
    "encode_with_report",
    "info",
]
