"""Kura: an order management system for Rakuten Ichiba shops."""

__version__ = "0.1.0"
