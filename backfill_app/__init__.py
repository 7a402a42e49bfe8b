"""Backfill Open edX learning analytics (Aspects) from tracking logs and platform data."""

__version__ = "0.1.0"
