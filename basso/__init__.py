"""Basso: a Tom Basso style portfolio manager for systematic futures traders."""

__version__ = "0.1.0"
