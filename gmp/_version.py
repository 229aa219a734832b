"""gmp's version, one place for ``gmp --version`` and ``gmp.__version__``.

The installed distribution (``gmp-runtime``; the import name is ``gmp``) is asked first,
so an installed build reports what was installed; a source tree without metadata falls
back to the number below, which is kept equal to ``pyproject.toml``'s.
"""

from __future__ import annotations

from importlib import metadata

__all__ = ["DISTRIBUTION", "__version__"]

DISTRIBUTION = "gmp-runtime"
"""The name on the package index (``pip install gmp-runtime``); ``gmp`` there is an
unrelated project."""

_SOURCE_VERSION = "0.1.0"


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return _SOURCE_VERSION


__version__ = _version()
