"""The pure billing domain: money, catalog, calendar, rating and invoice math.

Nothing here imports Temporal, the database or the network, so every rule can be called from a REPL.
"""
