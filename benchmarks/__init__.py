"""Benchmark scripts: each prints figures; nothing here asserts a time."""
