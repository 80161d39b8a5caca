"""Payloads that cross the Temporal boundary.

Workflow inputs, signals, updates, query results and activity payloads: plain JSON on the wire.
"""
