"""Titan: an operator-controlled crypto trading system (see README.md and docs/)."""

__version__ = "0.1.0"
