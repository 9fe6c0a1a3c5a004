"""The thin Dagster layer: resources, partitions, assets, checks, jobs and schedules.

Autoloaded by `load_from_defs_folder`; business logic lives in `core/` and `pipeline/`.
"""
