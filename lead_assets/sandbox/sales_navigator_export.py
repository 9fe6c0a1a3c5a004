"""A Sales Navigator-style lead-list export (CSV) built from the synthetic population.

Stands in for the files a team holds lawfully (an export its contract allows, or leads
that CRM Sync wrote back to the CRM, exported from there). Deterministic for a seed; it
overlaps the vendors' people, and carries what such files really carry: header spellings
of their own, a BOM, quoted commas, Sales Navigator URLs instead of public profile URLs on
some rows, a few malformed rows.
"""

from __future__ import annotations

import csv
import io
import random

from .population import Population, linkedin_url

HEADER = ["First Name", "Last Name", "Title", "Company", "Company Domain", "Industry", "Employees", "Location",
          "Email", "Profile URL"]


def export_csv(
    population: Population, *, seed: int = 7, share: float | None = None, bad_rows: int = 3
) -> bytes:
    """UTF-8 (with BOM) CSV of about `share` of the population, plus `bad_rows` malformed rows.

    `share` defaults to the population's ``sales_navigator_share`` (8 %; the full profile's 3 %).
    """
    return export_csv_with_truth(population, seed=seed, share=share, bad_rows=bad_rows)[0]


def export_csv_with_truth(
    population: Population, *, seed: int = 7, share: float | None = None, bad_rows: int = 3
) -> tuple[bytes, dict[int, str]]:
    """`export_csv`'s file and its ground truth: the line each good row starts on -> the row's real person.

    Lines count from 1 (the header) and break where a CSV reader breaks them (CR LF, CR, LF),
    so a name carrying a line break moves every later row down.
    """
    if share is None:
        share = population.rates.get("sales_navigator_share", 0.08)
    rng = random.Random(f"sales-navigator-export-{seed}")
    people = [p for p in population.people if p.duplicate_of is None and rng.random() < share]
    out = io.StringIO()
    csv.writer(out).writerow(HEADER)
    line = 2
    truth: dict[int, str] = {}
    for p in people:
        if p.linkedin_slug and rng.random() < 0.7:
            url = linkedin_url(p.linkedin_slug, rng.randrange(3))
        else:
            # A Sales Navigator lead URL: no public profile, matched by email or name + company
            url = f"https://www.linkedin.com/sales/lead/ACwAA{rng.getrandbits(40):X},NAME_SEARCH,{rng.randrange(9999)}"
        email = p.work_email if rng.random() < 0.35 else ""
        company = p.company
        row = io.StringIO()
        csv.writer(row).writerow([p.first_name, p.last_name, p.title or "", company.name, company.domain,
                                  company.industry or "", company.estimated_num_employees or "",
                                  f"{p.city}, {p.state_name}, {p.country}", email, url])
        truth[line] = p.real_id
        line += len(io.StringIO(row.getvalue(), newline="").readlines())
        out.write(row.getvalue())
    for i in range(bad_rows):
        out.write(f'"unterminated,row {i}\n' if i == bad_rows - 1 else f"only,{i}\n")
    return "\ufeff".encode() + out.getvalue().encode("utf-8"), truth
