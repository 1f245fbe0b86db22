"""The package's version: one place, read by the build (hatch) and by provenance metadata."""

__version__ = "0.1.0"
