"""The installed distribution's version, for /health and the CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chargebay")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
