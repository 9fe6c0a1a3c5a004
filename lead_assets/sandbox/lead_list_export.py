"""An Apollo-style people export (CSV) built from the synthetic population, for source `lead_list`.

Stands in for the file a team downloads from Apollo's People search ("Export CSV") and drops in the
lead-list folder: Apollo's own column names and order (see config/lead_lists.yaml, profile
`apollo_people`), first and last name apart, "# Employees", the person's LinkedIn URL in the vendor's
usual form, an Apollo contact id per row. Deterministic for a seed; it overlaps the people the Apollo
sandbox serves, so an import merges with what collection stored. Some rows carry what real exports
carry: no email, no LinkedIn URL, a spreadsheet formula typed into a cell, and a few rows with neither
identifier (quarantined on import).
"""

from __future__ import annotations

import csv
import io
import random

from .population import Population, linkedin_url

HEADER = ["First Name", "Last Name", "Title", "Company", "Company Name for Emails", "Email", "Email Status",
          "Seniority", "Departments", "Work Direct Phone", "Mobile Phone", "Corporate Phone", "# Employees",
          "Industry", "Person Linkedin Url", "Website", "Company Linkedin Url", "City", "State", "Country",
          "Apollo Contact Id", "Apollo Account Id"]


def export_csv(population: Population, *, seed: int = 11, share: float = 0.05, bad_rows: int = 2) -> bytes:
    """UTF-8 CSV of about `share` of the population's real people, plus `bad_rows` rows with no identifier."""
    return export_csv_with_truth(population, seed=seed, share=share, bad_rows=bad_rows)[0]


def export_csv_with_truth(population: Population, *, seed: int = 11, share: float = 0.05,
                          bad_rows: int = 2) -> tuple[bytes, dict[int, str]]:
    """`export_csv`'s file and its ground truth: the line of each good row -> the row's real person."""
    rng = random.Random(f"lead-list-export-{seed}")
    people = [p for p in population.people if p.duplicate_of is None and rng.random() < share]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # Apollo's files end lines the Windows way
    writer.writerow(HEADER)
    truth: dict[int, str] = {}
    for line, p in enumerate(people, start=2):
        c = p.company
        has_url = p.linkedin_slug is not None and rng.random() < 0.9
        email = p.work_email if (rng.random() < 0.6 or not has_url) else ""
        title = p.title or ""
        if rng.random() < 0.02:  # typed into a spreadsheet before export: data, never run
            title = f"=HYPERLINK(\"http://{c.domain}\",\"{title or 'Manager'}\")"
        writer.writerow([
            p.first_name, p.last_name, title, c.name, c.name, email, "Verified" if email else "",
            p.seniority, ",".join(p.departments), p.phone or "", "", c.phone or "",
            c.estimated_num_employees or "", c.industry or "",
            linkedin_url(p.linkedin_slug, 0) if has_url else "", c.website_url or "", c.linkedin_url or "",
            p.city, p.state_name, p.country, f"{rng.getrandbits(96):024x}", c.id,
        ])
        truth[line] = p.real_id
    for i in range(bad_rows):  # a name and a company, nothing to find the person with
        writer.writerow([f"Nobody{i}", "Known", "Media Buyer", "Gamma", "Gamma", "", "", "", "", "", "", "", "",
                         "", "", "", "", "Miami", "Florida", "United States", f"{rng.getrandbits(96):024x}", ""])
    return out.getvalue().encode("utf-8"), truth
