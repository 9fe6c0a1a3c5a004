"""Privacy: `erase_person_job` erases one person everywhere (lead store, Redis, CRM) and suppresses them.

Launch it from the UI's launchpad or with `lead-sprint erase`. The run config holds the person's
identifier (it has to), but the op logs only hashes and counts; the audit row it writes
(`erasure_audit`) holds no personal data.
"""

import dagster as dg
from pydantic import model_validator

from lead_assets.crm.registry import crm_adapter
from lead_assets.defs.resources import CrmResource, LeadStoreResource
from lead_assets.pipeline.erasure import erase_person


class ErasureConfig(dg.Config):
    """Exactly one of `email` / `linkedin_url`; `request_id` ties the run to the data-subject request."""

    email: str = ""
    linkedin_url: str = ""
    request_id: str = ""

    @model_validator(mode="after")
    def _one_identifier(self):
        if bool(self.email.strip()) == bool(self.linkedin_url.strip()):
            raise ValueError("give exactly one of email, linkedin_url")
        return self


@dg.op(description="Erase one person from leads, landings, ledgers, caches, Redis and the CRM; suppress; audit.")
def erase_person_op(
    context: dg.OpExecutionContext, config: ErasureConfig, lead_store: LeadStoreResource, crm: CrmResource
) -> dg.Output:
    store = lead_store.store()
    index = lead_store.dedup_index(logger=context.log)
    crm_config = crm.config()
    client = None
    if crm_config.target is not None:
        client = crm.client(crm_config, logger=context.log)
    identifier = config.email.strip() or config.linkedin_url.strip()
    kind = "email" if config.email.strip() else "linkedin"
    request_id = config.request_id or context.run.run_id
    # The CRM field an erasure searches LinkedIn URLs by (HubSpot's id property; None: not searched).
    linkedin_property = (crm_adapter(crm_config.target).erasure_search_property(crm_config)
                         if crm_config.target is not None else None)
    report = erase_person(store, index, client, crm_config.target, identifier, request_id, context.log,
                          kind=kind, linkedin_id_property=linkedin_property)
    counts = {k: v for k, v in report.counts.items()}
    return dg.Output(
        report.as_dict(),
        metadata={
            "request_id": report.request_id,
            "subject_sha256": report.subject_hash,
            "leads_erased": report.leads_erased,
            "crm_outcome": report.crm_outcome,
            "suppression_entries_added": report.suppression_entries,
            "counts": dg.MetadataValue.json(counts),
            "partitions_with_deleted_landings": dg.MetadataValue.json(report.partitions_with_deleted_landings),
        },
    )


@dg.job(description="Erase one data subject (config: email or linkedin_url, request_id); see lead_assets/defs/privacy.py.")
def erase_person_job():
    erase_person_op()
