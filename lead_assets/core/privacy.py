"""Privacy primitives (pure): normalise and hash identifiers, match leads against a suppression list.

The suppression list never holds a personal identifier in clear: an entry is the sha256 hex
of the *normalised* identifier, so the same person hashes the same however a vendor spelled them.

* email: trimmed, NUL-free, lower-cased (the form `leads.email` and the `em:` dedup keys use);
* LinkedIn: the canonical profile URL of `core.normalise.canonical_linkedin_url`
  (`https://www.linkedin.com/in/<slug>`); a bare slug or `in/<slug>` is accepted too;
* vendor / alternate key: the dedup key itself (`vid:<source>:<id>`, `sn:<url>`);
* domain: a company domain is not personal data and is stored plain (lower-case, no `www.`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from lead_assets.core.dedup_keys import vendor_key
from lead_assets.core.normalise import canonical_linkedin_url, map_distinct, website_domain

EMAIL = "email_sha256"
LINKEDIN = "linkedin_sha256"
VENDOR = "vendor_sha256"
DOMAIN = "domain"
KINDS: tuple[str, ...] = (EMAIL, LINKEDIN, VENDOR, DOMAIN)

_SLUG_RE = re.compile(r"^(?:in/)?([^/@\s?#]+)/?$", re.IGNORECASE)


def sha256_hex(text: str) -> str:
    """sha256 hex digest of `text` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise_email_identifier(value: Any) -> str | None:
    """The email as stored (trimmed, lower-cased), or None when it is not an address."""
    if not isinstance(value, str):
        return None
    s = value.replace("\x00", "").strip().lower()
    if s.startswith("mailto:"):
        s = s[len("mailto:") :]
    if s.count("@") != 1 or s.startswith("@") or s.endswith("@"):
        return None
    return s


def normalise_linkedin_identifier(value: Any) -> str | None:
    """The canonical LinkedIn profile URL for a URL, `in/<slug>` or a bare slug; None otherwise."""
    if not isinstance(value, str):
        return None
    s = value.replace("\x00", "").strip()
    if not s:
        return None
    url = canonical_linkedin_url(s)
    if url is None and "linkedin." not in s.lower():
        m = _SLUG_RE.match(s)
        if m:
            url = canonical_linkedin_url("https://www.linkedin.com/in/" + m.group(1))
    return url


def normalise_domain(value: Any) -> str | None:
    """A company domain from a domain, a website URL or an email address; None otherwise."""
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.replace("\x00", "").strip().lower()
    if "@" in s:
        s = s.rsplit("@", 1)[1]
    domain = website_domain(s)
    if domain is None:
        return None
    domain = domain.lower()
    return domain[4:] if domain.startswith("www.") else domain


def linkedin_slug(url: str | None) -> str | None:
    """The slug of a canonical LinkedIn URL (what a raw payload is searched for)."""
    if not url:
        return None
    return url.rstrip("/").rsplit("/", 1)[-1] or None


def email_hash(value: Any) -> str | None:
    """sha256 of the normalised email, or None."""
    email = normalise_email_identifier(value)
    return None if email is None else sha256_hex(email)


def linkedin_hash(value: Any) -> str | None:
    """sha256 of the canonical LinkedIn URL, or None."""
    url = normalise_linkedin_identifier(value)
    return None if url is None else sha256_hex(url)


def key_hash(key: str) -> str:
    """sha256 of a vendor or alternate dedup key (`vid:<source>:<id>`, `sn:<url>`)."""
    return sha256_hex(key)


def vendor_hash(source: str, vendor_person_id: Any) -> str | None:
    """sha256 of `vid:<source>:<id>`, or None for an empty id."""
    key = vendor_key(source, vendor_person_id)
    return None if key is None else key_hash(key)


def identifier_kind(identifier: str) -> str:
    """'email' or 'linkedin' for an erasure request's identifier (ValueError when neither)."""
    if normalise_linkedin_identifier(identifier) is not None and "@" not in identifier:
        return "linkedin"
    if normalise_email_identifier(identifier) is not None:
        return "email"
    raise ValueError("the identifier is neither an email address nor a LinkedIn profile URL")


def subject_hash(identifier: str, kind: str | None = None) -> tuple[str, str, str]:
    """(kind, normalised identifier, its sha256) of an erasure request's identifier."""
    kind = kind or identifier_kind(identifier)
    norm = normalise_email_identifier(identifier) if kind == "email" else normalise_linkedin_identifier(identifier)
    if norm is None:
        raise ValueError(f"not a valid {kind} identifier")
    return kind, norm, sha256_hex(norm)


def suppression_entries(
    *,
    emails: Iterable[Any] = (),
    linkedin_urls: Iterable[Any] = (),
    keys: Iterable[str] = (),
    domains: Iterable[Any] = (),
) -> list[tuple[str, str]]:
    """Sorted unique (kind, value_hash) entries for the given identifiers (invalid ones skipped)."""
    out: set[tuple[str, str]] = set()
    out.update((EMAIL, h) for h in map(email_hash, emails) if h)
    out.update((LINKEDIN, h) for h in map(linkedin_hash, linkedin_urls) if h)
    out.update((VENDOR, key_hash(k)) for k in keys if k)
    out.update((DOMAIN, d) for d in map(normalise_domain, domains) if d)
    return sorted(out)


def lead_hashes(df: pd.DataFrame) -> pd.DataFrame:
    """Per lead: `email_sha256`, `linkedin_sha256`, `email_domain`, `website_domain` (None when absent)."""
    def column(name: str) -> pd.Series:
        return df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)

    return pd.DataFrame(
        {
            "email_sha256": map_distinct(column("email"), email_hash),
            "linkedin_sha256": map_distinct(column("linkedin_url"), linkedin_hash),
            "email_domain": map_distinct(column("email"), normalise_domain),
            "website_domain": map_distinct(column("company_website"), normalise_domain),
        },
        index=df.index,
    )


def suppressed_mask(df: pd.DataFrame, entries: Mapping[str, Iterable[str]]) -> pd.Series:
    """Boolean Series: which rows of `df` (leads or mapped vendor records) a suppression entry matches.

    `entries` maps a kind to its hashes (domains plain). Matches: the email's hash, the LinkedIn
    URL's hash, the email's or the website's domain, and (when `df` has `source` and
    `vendor_person_id`) the vendor key's hash.
    """
    if not len(df):
        return pd.Series([], index=df.index, dtype=bool)
    emails, urls = set(entries.get(EMAIL, ())), set(entries.get(LINKEDIN, ()))
    domains, vendors = set(entries.get(DOMAIN, ())), set(entries.get(VENDOR, ()))
    hashes = lead_hashes(df)
    mask = hashes["email_sha256"].isin(emails) | hashes["linkedin_sha256"].isin(urls)
    if domains:
        mask |= hashes["email_domain"].isin(domains) | hashes["website_domain"].isin(domains)
    if vendors and {"source", "vendor_person_id"} <= set(df.columns):
        vh = pd.Series(
            [vendor_hash(s, v) if isinstance(s, str) else None
             for s, v in zip(df["source"].to_numpy(dtype=object), df["vendor_person_id"].to_numpy(dtype=object),
                             strict=True)],
            index=df.index, dtype=object,
        )
        mask |= vh.isin(vendors)
    return mask.astype(bool)
