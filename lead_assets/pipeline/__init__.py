"""Plain-Python orchestration of one partition's work (collect, resolve, store).

The Dagster assets and the CLI both call into here; nothing here imports Dagster.
"""
