"""Sensors: notice new Sales Navigator lead lists and request the run that imports them."""

import json
from datetime import UTC, datetime

import dagster as dg

from lead_assets.defs.jobs import sprint_job
from lead_assets.defs.partitions import hour_key_for, sprint_partition_key
from lead_assets.defs.resources import SalesNavigatorImportResource
from lead_assets.pipeline.sales_navigator_import import lead_list_files


@dg.sensor(job=sprint_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def sales_navigator_files_sensor(context: dg.SensorEvaluationContext, sales_navigator: SalesNavigatorImportResource):
    """A new or changed CSV in the import folder -> one run of the current hour's `sales_navigator` partition.

    Cheap by design (a listing of the import storage; no parsing): the run, on whatever node,
    lands and imports the file from the same storage. The cursor remembers each file's
    signature (size and modification time, or the object store's ETag).
    """
    files = sales_navigator.storage()
    if files.local_root is not None and not files.local_root.is_dir():
        return dg.SkipReason(f"import folder {files.local_root} does not exist")
    seen = json.loads(context.cursor) if context.cursor else {}
    current = {f.name: f.signature for f in lead_list_files(files)}
    new = {name: sig for name, sig in current.items() if seen.get(name) != sig}
    if not new:
        return dg.SkipReason("no new lead-list files")
    hour = hour_key_for(datetime.now(UTC))
    run_key = "sales_navigator:" + ",".join(f"{n}@{s}" for n, s in sorted(new.items()))
    context.update_cursor(json.dumps(current))
    return dg.RunRequest(run_key=run_key, partition_key=sprint_partition_key(hour, "sales_navigator"),
                         tags={"lead_sprint/files": ",".join(sorted(new))[:200]})
