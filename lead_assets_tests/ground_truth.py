"""The sandbox's ground truth against a lead store, for every source at once.

A store "holds exactly the ground truth" when every record a source could reach is one
lead's source or a quarantine row with a reason (nothing lost), every real person is at
most one lead (nobody split) and every lead is one real person (nobody merged). Used by
the collection tests and by `benchmarks/bench_backfill.py`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import requests

from lead_assets.config.settings import sprint_config
from lead_assets.core.sales_navigator_csv import parse_export
from lead_assets.pipeline.search_plan import assign_hours, plan_slices

ID_FIELD = {"apollo": "apollo_ids", "zoominfo": "zoominfo_ids"}
_LINE_RE = re.compile(r"\bline (\d+):")


def reachable(base_url: str, vendor: str, hours=None, cfg=None) -> dict[str, set[str]]:
    """Real person -> the vendor's record ids that the plan's slices (of `hours`; default all) reach."""
    cfg = cfg or sprint_config()
    planned = plan_slices(tuple((r.role, r.aliases) for r in cfg.target_roles), cfg.locations)
    hour_of = assign_hours(planned, cfg.start, cfg.hours)
    people: dict[str, set[str]] = defaultdict(set)
    for s in planned:
        if hours is not None and hour_of[s.key] not in hours:
            continue
        if vendor == "apollo":
            body = {"person_titles": list(s.titles), "person_locations": list(s.locations)}
        else:
            body = {"titles": list(s.titles), "locations": list(s.locations)}
        r = requests.post(f"{base_url}/__sandbox/ground_truth?vendor={vendor}", json=body, timeout=60)
        r.raise_for_status()
        for person in r.json()["people"]:
            people[person["real_id"]].update(person[ID_FIELD[vendor]])
    return dict(people)


def sales_navigator_truth(data: bytes, filename: str, line_truth: dict[int, str]) -> tuple[dict, dict]:
    """(real person -> the file's record ids, line -> record id) for an export and its line truth."""
    parsed = parse_export(data, filename)
    people: dict[str, set[str]] = defaultdict(set)
    vid_of_line = {}
    for line, record in parsed.records:
        vid_of_line[line] = record["vendor_person_id"]
        if line in line_truth:
            people[line_truth[line]].add(record["vendor_person_id"])
    return dict(people), vid_of_line


@dataclass
class TruthComparison:
    people: int = 0  # distinct real people some source could reach
    records: int = 0  # (source, record id) pairs reachable
    leads: int = 0
    quarantined: int = 0  # reachable records that are quarantine rows
    missing: list[tuple[str, str]] = field(default_factory=list)  # neither a lead's source nor quarantined
    split: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # person -> (source, id, lead), > 1 lead
    merged: dict[str, list[str]] = field(default_factory=dict)  # lead -> real people (> 1)
    unexplained_leads: int = 0  # leads no reachable record leads to

    @property
    def exact(self) -> bool:
        return not (self.missing or self.split or self.merged or self.unexplained_leads)

    def summary(self) -> str:
        verdict = "exact" if self.exact else "MISMATCH"
        return (f"{verdict}: {self.people:,} real people / {self.records:,} reachable records -> {self.leads:,} leads, "
                f"{self.quarantined:,} records quarantined; missing {len(self.missing)}, split {len(self.split)}, "
                f"merged {len(self.merged)}, leads without a reachable record {self.unexplained_leads}")


def compare(store, truth: dict[str, dict[str, set[str]]], sn_lines: dict[int, str] | None = None) -> TruthComparison:
    """Compare the store with `truth` (source -> real person -> record ids).

    `sn_lines` (line -> Sales Navigator record id) explains Sales Navigator quarantine rows,
    which name the file's line rather than an id.
    """
    sources = store.read_sql("SELECT source, vendor_person_id, lead_id FROM lead_sources")
    lead_of = {(s, v): lead for s, v, lead in sources.itertuples(index=False)}
    q = store.read_sql("SELECT source, vendor_person_id, reason FROM quarantine")
    quarantined = {(s, v) for s, v, _ in q.itertuples(index=False) if v is not None}
    for s, _, reason in q.itertuples(index=False):
        if sn_lines and (m := _LINE_RE.search(reason or "")) and int(m.group(1)) in sn_lines:
            quarantined.add((s, sn_lines[int(m.group(1))]))
    out = TruthComparison(leads=int(store.read_sql("SELECT COUNT(*) AS n FROM leads")["n"].iloc[0]))
    leads_of_person: dict[str, set[str]] = defaultdict(set)
    records_of_person: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    people_of_lead: dict[str, set[str]] = defaultdict(set)
    for source, people in truth.items():
        for real_id, ids in people.items():
            leads_of_person.setdefault(real_id, set())
            for vid in ids:
                out.records += 1
                lead = lead_of.get((source, vid))
                if lead is not None:
                    leads_of_person[real_id].add(lead)
                    records_of_person[real_id].append((source, vid, lead))
                    people_of_lead[lead].add(real_id)
                elif (source, vid) in quarantined:
                    out.quarantined += 1
                else:
                    out.missing.append((source, vid))
    out.people = len(leads_of_person)
    out.split = {p: sorted(records_of_person[p]) for p, leads in leads_of_person.items() if len(leads) > 1}
    out.merged = {lead: sorted(p) for lead, p in people_of_lead.items() if len(p) > 1}
    out.unexplained_leads = out.leads - len(people_of_lead)
    return out
