"""Dedup keys of normalised leads and the stable lead ids minted from them.

A person can be recognised by their canonical LinkedIn URL (`li:`), their normalised
email (`em:`) or a vendor's own id (`vid:<source>:`). Keys are listed per lead in
KEY_PRIORITY order: the store looks them up in that order, and a new person's lead id
is minted from the first key.

Every lead also carries weak keys, its normalised name at its employer: by company domain
(`nd:`) and by company name (`nc:`, for records whose vendor gave no domain). They are
what a lead without a LinkedIn URL shares with a vendor that knows the same person by a
LinkedIn URL and another email, or none. They are looked up last, only for people no
strong key found, and never join two records of one batch.
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache

import numpy as np
import pandas as pd

from lead_assets.core.normalise import map_distinct, website_domain
from lead_assets.core.sales_navigator_csv import normalise_person_name

KEY_PRIORITY: tuple[str, ...] = ("linkedin", "email", "vendor")
KEY_PREFIX: dict[str, str] = {"linkedin": "li:", "email": "em:", "vendor": "vid:"}
LEAD_ID_PREFIX = "ld_"


def linkedin_key(canonical_url: str) -> str:
    """Key of a canonical LinkedIn profile URL."""
    return "li:" + canonical_url


def email_key(email: str) -> str:
    """Key of a normalised email."""
    return "em:" + email.lower()


def vendor_key(source: str, vendor_person_id: object) -> str | None:
    """Key of a vendor's person id, or None when the id is empty/missing."""
    vid = _id_text(vendor_person_id)
    return None if vid is None else f"vid:{source}:{vid}"


def weak_key_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Long DataFrame(`row`, `kind`, `key`): `weak_keys` of every row of normalised leads.

    Rows in df order, and within a row name_domain before name_company, as `weak_keys` lists
    them. Names, domains and company names are normalised once per distinct value.
    """
    name = map_distinct(df["full_name"], normalise_person_name).to_numpy(dtype=object)
    domain = map_distinct(df["company_website"], website_domain).to_numpy(dtype=object)
    company = map_distinct(df["company_name"], _company_match_name).to_numpy(dtype=object)
    has_name = ~pd.isna(name)
    on_linkedin = np.fromiter((isinstance(d, str) and (d == "linkedin.com" or d.endswith(".linkedin.com"))
                               for d in domain), bool, len(domain))
    by_domain = np.flatnonzero(has_name & ~pd.isna(domain) & ~on_linkedin)
    by_company = np.flatnonzero(has_name & ~pd.isna(company))
    pos = np.concatenate([by_domain, by_company])
    order = np.argsort(pos, kind="stable")  # by row, name_domain first
    keys = np.array([f"nd:{name[i]}|{domain[i]}" for i in by_domain]
                    + [f"nc:{name[i]}|{company[i]}" for i in by_company], dtype=object)
    kinds = np.array(["name_domain"] * len(by_domain) + ["name_company"] * len(by_company), dtype=object)
    return pd.DataFrame({"row": df.index.take(pos[order]).to_numpy(), "kind": kinds[order], "key": keys[order]})


@lru_cache(maxsize=1 << 16)
def _cached_match_name(name: str) -> str | None:
    return normalise_person_name(name)


def _company_match_name(name: object) -> str | None:
    """`normalise_person_name` of a company name, cached: one employer recurs in batch after batch."""
    return _cached_match_name(name) if isinstance(name, str) else normalise_person_name(name)


def _id_text(value: object) -> str | None:
    # Ids arrive as str or int, and as float when pandas saw a NaN in an int column.
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, str):
        s = value.replace("\x00", "").strip()
        return s or None
    return None


def _text_or_none(value: object) -> str | None:
    if isinstance(value, str):
        s = value.strip()
        return s or None
    return None


def lead_keys(df: pd.DataFrame, source: str, id_column: str = "vendor_person_id") -> pd.DataFrame:
    """Long DataFrame(`row`, `kind`, `key`) of every dedup key of every lead in `df`.

    `row` is the df index label; rows come in df order and, within a row, in
    KEY_PRIORITY order (linkedin, email, vendor). A row without a key of some kind just
    has fewer entries. `df` must already be normalised (canonical URL, normalised email).
    """
    n = len(df)
    columns = {
        "linkedin": ("linkedin_url", linkedin_key),
        "email": ("email", email_key),
        "vendor": (id_column, lambda v: vendor_key(source, v)),
    }
    rows: list[np.ndarray] = []
    prios: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    for prio, kind in enumerate(KEY_PRIORITY):
        name, make = columns[kind]
        if name not in df.columns:
            continue
        values = df[name].to_numpy(dtype=object)
        if kind == "vendor":
            made = [make(v) for v in values]
        else:
            made = [None if (t := _text_or_none(v)) is None else make(t) for v in values]
        pos = np.fromiter((i for i, k in enumerate(made) if k is not None), dtype=np.int64)
        rows.append(pos)
        prios.append(np.full(len(pos), prio, dtype=np.int64))
        kinds.append(np.full(len(pos), kind, dtype=object))
        keys.append(np.array([made[i] for i in pos], dtype=object))
    if not rows or n == 0:
        return pd.DataFrame(
            {
                "row": df.index[:0].to_numpy(),
                "kind": np.array([], dtype=object),
                "key": np.array([], dtype=object),
            }
        )
    pos = np.concatenate(rows)
    prio = np.concatenate(prios)
    order = np.lexsort((prio, pos))  # by row position, then priority
    return pd.DataFrame(
        {
            "row": df.index.take(pos[order]).to_numpy(),
            "kind": np.concatenate(kinds)[order],
            "key": np.concatenate(keys)[order],
        }
    )


def mint_lead_id(key: str) -> str:
    """Stable lead id for the person first seen under `key`: "ld_" + 24 hex of sha1(key)."""
    return LEAD_ID_PREFIX + hashlib.sha1(key.encode("utf-8")).hexdigest()[:24]
