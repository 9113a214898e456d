"""The one error hierarchy of nmc.

Every failure a user can cause (bad files, bad options, damaged bitstreams) surfaces as a
subclass of :class:`NmcError`, with a message that says what was expected and what to do.
"""

from __future__ import annotations


class NmcError(Exception):
    """Base class of every error nmc raises on purpose."""


class BitstreamError(NmcError):
    """A bitstream is damaged, truncated, of an unknown version or not an nmc file at all."""


class InputError(NmcError):
    """An input file, array or option is missing, malformed or unsupported."""


class DependencyError(NmcError):
    """An optional external tool or package that the requested work needs is not available."""


class NmcWarning(UserWarning):
    """Something a user should know that did not stop the work (e.g. points merged while
    voxelizing); the ``nmc`` command prints each as one ``nmc: warning:`` line on stderr."""
