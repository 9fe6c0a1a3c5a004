"""`lead-sprint forecast`: a dry run that searches (free) and projects the sprint's spend before anything is bought.

Register it on the main parser with `add_forecast_commands(sub)`. The work is in
`pipeline/forecast.py`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os


def add_forecast_commands(sub: argparse._SubParsersAction) -> None:
    """Add `forecast` to the `lead-sprint` sub-command parser."""
    p = sub.add_parser("forecast", help="dry run: free Apollo search only, then projected people, spend and CPQL")
    p.add_argument("--max-pages", type=int, default=None, metavar="N",
                   help="read at most N pages per slice and extrapolate (saves search calls; default: every page)")
    p.add_argument("--start", help="first hour partition to forecast, e.g. 2026-11-27-00:00 (default: every hour)")
    p.add_argument("--hours", type=int, default=None, help="hours to forecast from --start (default: to the end)")
    p.add_argument("--json", action="store_true", help="machine-readable, stable keys")
    p.set_defaults(func=cmd_forecast)


def cmd_forecast(args: argparse.Namespace) -> int:
    from lead_assets.config.environment import apply_sandbox_env, env_or_default
    from lead_assets.config.settings import sprint_config
    from lead_assets.core.enrichment_config import load_enrichment_config
    from lead_assets.defs.resources import ApolloResource
    from lead_assets.pipeline.forecast import forecast_sprint
    from lead_assets.pipeline.search_plan import hour_keys
    from lead_assets.store.dedup_index import DedupIndex
    from lead_assets.store.lead_store import LeadStore

    if args.max_pages is not None and args.max_pages < 1:
        raise SystemExit("--max-pages must be at least 1")
    apply_sandbox_env()
    api_key = os.environ.get("APOLLO_API_KEY")
    if not api_key:
        raise SystemExit("APOLLO_API_KEY is not set: set it (or LEAD_SPRINT_SANDBOX=1) to forecast from Apollo search")
    cfg = sprint_config()
    hours = None
    if args.start or args.hours is not None:
        keys = hour_keys(cfg.start, cfg.hours)
        if args.start and args.start not in keys:
            raise SystemExit(f"--start {args.start} is not an hour of the sprint ({keys[0]} .. {keys[-1]})")
        first = keys.index(args.start) if args.start else 0
        hours = keys[first : first + args.hours] if args.hours is not None else keys[first:]
    log = logging.getLogger("lead_sprint.forecast")
    # the same client, limits and retry budget as the collection's (built by its resource)
    client = ApolloResource(base_url=env_or_default("APOLLO_BASE_URL"), api_key=api_key).client(logger=log)
    store = LeadStore()
    store.ensure_schema()
    index = DedupIndex(store, os.environ.get("REDIS_URL"))
    try:
        fc = forecast_sprint(client, store, index, cfg, load_enrichment_config(sprint=cfg),
                             max_pages_per_slice=args.max_pages, log=log, hours=hours)
    finally:
        store.dispose()
    if args.json:
        print(json.dumps(fc.as_dict(), indent=2, default=str))
    else:
        print(fc.format())
    return 0
