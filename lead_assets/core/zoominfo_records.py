"""Map ZoomInfo contact payloads (enrich/contact `data[]` items) onto lead fields.

Same rules as `vendor_records.apollo_person_record`: a payload that cannot become a record
(not an object, no id) yields a reason instead; a field of the wrong type is dropped, the
rest of the record goes on. ZoomInfo specifics: numeric person ids (sent as int or string),
`externalUrls` as a list of `{type, url}` (sometimes a bare list of URLs or one object),
`managementLevel` / `companyIndustries` as lists, phones withheld when flagged Do Not Call,
`companyEmployeeCount` as a number or a numeric string.

`zoominfo_outcome_record` turns one enrich outcome (its `matchStatus` and data) into lead fields or
the quarantine reason that says what ZoomInfo answered; a status that settles nothing
(SERVICE_ERROR, LIMIT_EXCEEDED) is the caller's to ask again, never a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lead_assets.core.vendor_records import MAPPED_FIELDS

__all__ = ["MAPPED_FIELDS", "zoominfo_contact_record", "zoominfo_linkedin_url", "zoominfo_outcome_record"]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value if value.strip() else None
    return None


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _is_linkedin(url: str) -> bool:
    return "linkedin.com/in/" in url.lower()


def zoominfo_linkedin_url(external_urls: Any) -> str | None:
    """The LinkedIn profile URL among a contact's `externalUrls`, in whatever form ZoomInfo gave it."""
    entries = external_urls if isinstance(external_urls, list) else [external_urls]
    fallback = None
    for entry in entries:
        if isinstance(entry, str):
            if _is_linkedin(entry):
                return entry
            continue
        if not isinstance(entry, Mapping):
            continue
        url = _text(entry.get("url"))
        if url is None:
            continue
        kind = str(entry.get("type") or "").lower()
        if "linkedin" in kind and _is_linkedin(url):
            return url
        if fallback is None and _is_linkedin(url):
            fallback = url
    return fallback


def _industry(contact: Mapping[str, Any]) -> str | None:
    primary = _text(contact.get("companyPrimaryIndustry"))
    if primary:
        return primary
    industries = contact.get("companyIndustries")
    if isinstance(industries, list):
        for item in industries:
            name = _text(item.get("name")) if isinstance(item, Mapping) else _text(item)
            if name:
                return name
    return None


def _size(value: Any) -> int | float | str | None:
    if isinstance(value, bool):
        return None
    return value if isinstance(value, int | float | str) else None


def _phone(contact: Mapping[str, Any]) -> str | None:
    # A number flagged Do Not Call is not stored: nobody may call it from a lead list.
    if contact.get("directPhoneDoNotCall") is not True:
        direct = _text(contact.get("phone")) or _text(contact.get("directPhone"))
        if direct:
            return direct
    if contact.get("mobilePhoneDoNotCall") is not True:
        return _text(contact.get("mobilePhone"))
    return None


def zoominfo_contact_record(contact: Any) -> tuple[dict[str, Any] | None, str | None]:
    """One ZoomInfo contact (enrich `data[]` item) -> (lead fields, None) or (None, reason)."""
    if not isinstance(contact, Mapping):
        return None, f"zoominfo contact is {type(contact).__name__}, not an object"
    person_id = _id(contact.get("id")) or _id(contact.get("personId"))
    if not person_id:
        return None, "zoominfo contact has no id"
    first, middle, last = (_text(contact.get(k)) for k in ("firstName", "middleName", "lastName"))
    names = [n.strip() for n in (first, middle, last) if n and n.strip()]
    company = contact.get("company")
    company = company if isinstance(company, Mapping) else {}
    record = {
        "vendor_person_id": person_id,
        "full_name": " ".join(names) if first or last else None,
        "first_name": first,
        "last_name": last,
        "linkedin_url": zoominfo_linkedin_url(contact.get("externalUrls")),
        "job_title": _text(contact.get("jobTitle")),
        "company_name": _text(contact.get("companyName")) or _text(company.get("name")),
        "location_city": _text(contact.get("city")),
        "location_state": _text(contact.get("state")),
        "location_country": _text(contact.get("country")),
        "email": _text(contact.get("email")),
        "email_status": None,  # ZoomInfo's legacy enrich carries no deliverability status
        "phone": _phone(contact),
        "company_website": _text(contact.get("companyWebsite")),
        "company_industry": _industry(contact),
        "company_size": _size(contact.get("companyEmployeeCount")),
        "profile_picture_url": _text(contact.get("picture")),
    }
    return record, None


NO_MATCH_REASON = "zoominfo enrich returned NO_MATCH for this id (listed by search, not sold by enrich)"
OPT_OUT_REASON = "zoominfo enrich returned OPT_OUT: the person opted out; not stored as a lead"
COMPANY_ONLY_REASON = (
    "company only: zoominfo enrich returned COMPANY_ONLY_MATCH (company data, no person data); "
    "not a person, not billed"
)
INVALID_INPUT_REASON = "zoominfo enrich returned INVALID_INPUT: ZoomInfo refused this id as enrich input"
NON_MATCH_REASON = (
    "zoominfo enrich returned {status}: ZoomInfo holds the person but its match rule withheld the record"
)
EMPTY_HIT_REASON = "zoominfo enrich returned {status} without the contact's data (billed, nothing to store)"
_HITS = frozenset({"FULL_MATCH", "CONTACT_ONLY_MATCH"})
_UNSETTLED = frozenset({"SERVICE_ERROR", "LIMIT_EXCEEDED"})


def zoominfo_outcome_record(status: str, contact: Any) -> tuple[dict[str, Any] | None, str | None]:
    """One enrich outcome -> (lead fields, None) for a hit with data, else (None, reason).

    Raises ValueError for SERVICE_ERROR / LIMIT_EXCEEDED: those say nothing about the person.
    """
    if status in _UNSETTLED:
        raise ValueError(f"{status} settles nothing: ask ZoomInfo again")
    if status in _HITS:
        if contact is None:
            return None, EMPTY_HIT_REASON.format(status=status)
        return zoominfo_contact_record(contact)
    if status == "OPT_OUT":
        return None, OPT_OUT_REASON
    if status == "COMPANY_ONLY_MATCH":
        return None, COMPANY_ONLY_REASON
    if status == "INVALID_INPUT":
        return None, INVALID_INPUT_REASON
    if status.startswith("NON_MATCH_BY_"):
        return None, NON_MATCH_REASON.format(status=status)
    return None, NO_MATCH_REASON
