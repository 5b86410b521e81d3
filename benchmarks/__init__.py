"""Reproducible speed and quality measurements against peers; run with ``python -m benchmarks``."""
