"""Benchmarks of the logistics backend; each is run as ``python bench/<name>.py`` (see README.md)."""
