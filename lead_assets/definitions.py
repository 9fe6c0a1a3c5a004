"""Dagster entry point: everything under `defs/` is loaded automatically."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    # Every run executes its steps in the run's own process. The steps are a chain (collect ->
    # dedupe -> enrich -> score -> checks) that takes seconds; a process per step costs 15-30 s
    # of imports each on a 2-core host, which made a 24 h x 3 source backfill take hours.
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=dg.in_process_executor),
    )
