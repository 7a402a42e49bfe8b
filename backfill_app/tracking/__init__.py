"""Tracking logs -> statements: the pipeline, checkpoints, time windows, gaps, statement files."""
