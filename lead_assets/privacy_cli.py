"""`lead-sprint erase` and `lead-sprint suppress`: the privacy commands.

Register them on the main parser with `add_privacy_commands(sub)`. `erase` runs `erase_person_job`
in-process against the Dagster instance and prints the report: hashes and counts only. Dagster keeps
a run's config (which names the person) in its run storage, so after a successful erasure the command
deletes that run record too (`--keep-run` keeps it); the audit trail is the `erasure_audit` row.
A run launched from the UI's launchpad should be deleted there afterwards for the same reason.
"""

from __future__ import annotations

import argparse
import json
import uuid


def add_privacy_commands(sub: argparse._SubParsersAction) -> None:
    """Add `erase` and `suppress` to the `lead-sprint` sub-command parser."""
    erase = sub.add_parser("erase", help="erase one person everywhere (store, Redis, CRM), suppress and audit")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the person's email")
    who.add_argument("--linkedin-url", help="the person's LinkedIn profile URL")
    erase.add_argument("--request-id", help="the data-subject request id (default: a new uuid)")
    erase.add_argument("--keep-run", action="store_true",
                       help="keep the Dagster run record (its config names the person)")
    erase.set_defaults(func=cmd_erase)
    suppress = sub.add_parser("suppress", help="never buy, store, enrich or sync this person (or domain) again")
    what = suppress.add_mutually_exclusive_group(required=True)
    what.add_argument("--email", help="the person's email (stored as a SHA-256 hash)")
    what.add_argument("--linkedin-url", help="the person's LinkedIn profile URL (stored as a SHA-256 hash)")
    what.add_argument("--domain", help="a company domain (stored plain)")
    suppress.add_argument("--reason", default="suppressed on request", help="why, for the audit (default: "
                          "'suppressed on request')")
    suppress.set_defaults(func=cmd_suppress)


def erase_run_config(email: str | None, linkedin_url: str | None, request_id: str) -> dict:
    """The run config of `erase_person_job` for one identifier."""
    return {"ops": {"erase_person_op": {"config": {"email": email or "", "linkedin_url": linkedin_url or "",
                                                   "request_id": request_id}}}}


def cmd_erase(args: argparse.Namespace) -> int:
    import dagster as dg

    from lead_assets.cli import QUIET, _ensure_dagster_home, _load_definitions

    request_id = args.request_id or f"erase-{uuid.uuid4()}"
    _ensure_dagster_home()
    job = _load_definitions().resolve_job_def("erase_person_job")
    run_config = {**QUIET, **erase_run_config(args.email, args.linkedin_url, request_id)}
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config)
        if not result.success:
            print(f"erasure {request_id}: FAILED (see run {result.run_id} in the UI; delete it once resolved, "
                  "its config names the person)")
            return 1
        report = result.output_for_node("erase_person_op")
        if not args.keep_run:
            instance.delete_run(result.run_id)
    print(json.dumps({k: report[k] for k in ("request_id", "subject_hash", "leads_erased", "crm_outcome",
                                             "suppression_entries", "counts")}, indent=2, sort_keys=True))
    return 0


def cmd_suppress(args: argparse.Namespace) -> int:
    from lead_assets.config.environment import apply_sandbox_env
    from lead_assets.store.lead_store import LeadStore
    from lead_assets.store.suppression import suppress

    apply_sandbox_env()
    store = LeadStore()
    try:
        added = suppress(store, email=args.email, linkedin_url=args.linkedin_url, domain=args.domain,
                         reason=args.reason)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    print("suppressed" if added else "already suppressed")
    return 0
