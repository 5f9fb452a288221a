"""Hallmark: provenance and certificates for fine jewellery, anchored on an EVM chain."""

__version__ = "0.1.0"
