"""sharpgen: does sharpness predict generalization?

The library API is the sharpness engine (:mod:`sharpgen.sharpness`); the workflow calls the
thin CLI in :mod:`sharpgen.cli`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sharpgen")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
