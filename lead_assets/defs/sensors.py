"""Sensors: notice new files in an import source's folder and request the run that imports them."""

import json
from datetime import UTC, datetime

import dagster as dg

from lead_assets.defs.jobs import sprint_job
from lead_assets.defs.partitions import ENABLED_SOURCES, hour_key_for, sprint_partition_key
from lead_assets.sources import ImportSource, import_sources
from lead_assets.sources.file_imports import import_files


def import_files_sensor(source: ImportSource) -> dg.SensorDefinition:
    """A new or changed file in `source`'s import folder -> one run of the current hour's partition of it."""

    @dg.sensor(name=f"{source.name}_files_sensor", job=sprint_job, minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.RUNNING, required_resource_keys={source.resource_key},
               description=f"New or changed files in the {source.label} import folder -> one run of the current "
                           f"hour's `{source.name}` partition. Cheap by design (a listing of the import storage; "
                           "no parsing): the run, on whatever node, lands and imports the file from the same "
                           "storage. The cursor remembers each file's signature (size and modification time, or "
                           "the object store's ETag).")
    def _sensor(context: dg.SensorEvaluationContext, **resources):  # a direct call passes the folder by key
        files = getattr(context.resources, source.resource_key).storage(source.name)
        if files.local_root is not None and not files.local_root.is_dir():
            return dg.SkipReason(f"import folder {files.local_root} does not exist")
        seen = json.loads(context.cursor) if context.cursor else {}
        current = {f.name: f.signature for f in import_files(files, source.patterns)}
        new = {name: sig for name, sig in current.items() if seen.get(name) != sig}
        if not new:
            return dg.SkipReason(f"no new {source.label} files")
        hour = hour_key_for(datetime.now(UTC))
        run_key = f"{source.name}:" + ",".join(f"{n}@{s}" for n, s in sorted(new.items()))
        context.update_cursor(json.dumps(current))
        return dg.RunRequest(run_key=run_key, partition_key=sprint_partition_key(hour, source.name),
                             tags={"lead_sprint/files": ",".join(sorted(new))[:200]})

    return _sensor


@dg.definitions
def import_sensors() -> dg.Definitions:
    """One file sensor per import source the sprint collects."""
    return dg.Definitions(sensors=[import_files_sensor(s) for s in import_sources() if s.name in ENABLED_SOURCES])
