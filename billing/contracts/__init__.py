"""Payloads that cross the Temporal boundary (workflow inputs, signals, updates, queries, activities)."""
