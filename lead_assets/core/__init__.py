"""Plain-Python business logic: normalising, validating, dedup keys, scoring, metrics.

Nothing in this package imports Dagster, the store, or any vendor client.
"""
