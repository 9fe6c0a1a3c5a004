"""Map vendor person payloads onto lead fields, tolerating what vendors really send.

A payload that cannot become a record (not an object, no id) yields a reason instead,
so the caller can quarantine it; a field of the wrong type is dropped and noted, the
rest of the record goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAPPED_FIELDS = (
    "vendor_person_id",
    "full_name",
    "first_name",
    "last_name",
    "linkedin_url",
    "job_title",
    "company_name",
    "location_city",
    "location_state",
    "location_country",
    "email",
    "email_status",
    "phone",
    "company_website",
    "company_industry",
    "company_size",
    "profile_picture_url",
)


def _text(value: Any) -> str | None:
    if type(value) is str:  # what vendors send nearly always: skip the checks below
        return value
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return value if isinstance(value, str) else None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def apollo_person_record(person: Any) -> tuple[dict[str, Any] | None, str | None]:
    """One Apollo person object (bulk_match / people/match) -> (lead fields, None) or (None, reason)."""
    if not isinstance(person, Mapping):
        return None, f"apollo person is {type(person).__name__}, not an object"
    person_id = _text(person.get("id"))
    if not person_id:
        return None, "apollo person has no id"
    org = _obj(person.get("organization"))
    size = org.get("estimated_num_employees")
    phone = _text(person.get("sanitized_phone")) or _text(_obj(person.get("phone_number")).get("sanitized_number"))
    record = {
        "vendor_person_id": person_id,
        "full_name": _text(person.get("name")),
        "first_name": _text(person.get("first_name")),
        "last_name": _text(person.get("last_name")),
        "linkedin_url": _text(person.get("linkedin_url")),
        "job_title": _text(person.get("title")),
        "company_name": _text(org.get("name")) or _text(person.get("organization_name")),
        "location_city": _text(person.get("city")),
        "location_state": _text(person.get("state")),
        "location_country": _text(person.get("country")),
        "email": _text(person.get("email")),
        "email_status": _text(person.get("email_status")),
        "phone": phone,
        "company_website": _text(org.get("primary_domain")) or _text(org.get("website_url")),
        "company_industry": _text(org.get("industry")),
        "company_size": size if isinstance(size, int | float | str) and not isinstance(size, bool) else None,
        "profile_picture_url": _text(person.get("photo_url")),
    }
    return record, None
