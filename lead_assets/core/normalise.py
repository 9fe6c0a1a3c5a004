"""Field normalisers for vendor lead records, scalar and vectorised.

Every scalar function takes whatever a vendor sent (str, number, None, NaN) and returns
the canonical value or None; it never raises. The vectorised forms (plural names, e.g.
`canonical_linkedin_urls`, `normalise_emails`) give the same results on a pandas Series,
keep its index, and do the expensive work once per distinct value, because lead batches
repeat states, countries, domains, sizes and titles a lot.

`normalise_leads` applies all of them to a batch and adds the derived columns the rest
of the pipeline reads: `target_role`, `email_status`, `validation_errors` and
`needs_enrichment`. Text is kept verbatim apart from whitespace and NUL bytes: SQL, HTML
or spreadsheet-formula characters are data here and are escaped where they are output.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Hashable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import phonenumbers
import us
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from nameparser import HumanName
from nameparser.config import CONSTANTS as NAME_CONSTANTS

from lead_assets.core.lead_schema import COMPANY_FIELDS, REQUIRED_FIELDS

if TYPE_CHECKING:
    from lead_assets.core.titles import TitleMatcher

# Columns `normalise_leads` reads; any it does not find count as None.
LEAD_INPUT_COLUMNS: tuple[str, ...] = (
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

# Longest value a required text field (name, title, company, city) may have and stay valid.
MAX_FIELD_LENGTH = 200
MAX_URL_LENGTH = 2048
# LinkedIn allows 3-100 characters in a public profile URL; shorter is tolerated (old slugs).
MAX_LINKEDIN_SLUG_LENGTH = 100
# The largest employer has ~2.3M staff: anything above this is a unit or typing error.
MAX_COMPANY_SIZE = 10_000_000

US_STATES = tuple(us.states.STATES) + (us.states.DC,)
US_STATE_CODES: frozenset[str] = frozenset(s.abbr for s in US_STATES)


# --------------------------------------------------------------------------- helpers


def _is_missing(value: object) -> bool:
    """True for None, NaN, pd.NA and NaT."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # containers: not a scalar missing marker
        return False


def clean_str(value: object, max_len: int | None = None) -> str | None:
    """One text value: strip, drop NUL bytes, collapse whitespace runs to one space.

    Numbers become their decimal text (integral floats without `.0`); None, NaN, empty
    text and values of other types return None. Truncates to `max_len` characters.
    """
    if type(value) is str or isinstance(value, str):
        s = value
    elif value is None or isinstance(value, bool):
        return None
    elif isinstance(value, (int, np.integer)):
        s = str(int(value))
    elif isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        s = str(int(value)) if float(value).is_integer() else str(float(value))
    else:
        return None
    if "\x00" in s:
        s = s.replace("\x00", "")
    s = " ".join(s.split())
    if not s:
        return None
    if max_len is not None and len(s) > max_len:
        s = s[:max_len].rstrip() or None
    return s


def clean_text(s: pd.Series, max_len: int | None = None) -> pd.Series:
    """`clean_str` over a Series (object dtype, None for missing), index kept; each distinct value once."""
    return map_distinct(s, clean_str if max_len is None else lambda v: clean_str(v, max_len))


def map_distinct(s: pd.Series, func: Callable[[Hashable], object]) -> pd.Series:
    """Apply `func` once per distinct non-missing value of `s` (columns repeat a lot); missing -> None."""
    values = s.to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists from a sloppy vendor): no caching
        return pd.Series([None if _is_missing(v) else func(v) for v in values], index=s.index, dtype=object)
    uniques = np.asarray(uniques, dtype=object)
    present = codes >= 0
    if not (uniques[codes[present]] == values[present]).all():
        # pandas' string hash table stops at a NUL: "a" and "a\0b" come back as one value.
        cache: dict = {}
        return pd.Series([None if _is_missing(v) else cache[v] if v in cache else cache.setdefault(v, func(v))
                          for v in values], index=s.index, dtype=object)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[: len(uniques)] = [func(u) for u in uniques]
    mapped[-1] = None  # code -1 is the NA sentinel
    return pd.Series(mapped[codes], index=s.index, dtype=object)


def column_or_none(df: pd.DataFrame, name: str) -> pd.Series:
    """`df[name]` as object Series, or all-None when the column is absent."""
    if name in df.columns:
        return df[name].astype(object)
    return pd.Series([None] * len(df), index=df.index, dtype=object)


# What the validity checks read: a frame, or (inside `normalise_leads`) its columns as arrays.
Columns = pd.DataFrame | Mapping[str, object]


def column_values(cols: Columns, name: str) -> np.ndarray:
    """Column `name` as an object array (all None when absent); cheaper than a Series per check."""
    if name in cols:  # a frame's `in` asks its columns, a mapping's its keys
        return np.asarray(cols[name], dtype=object)
    return np.full(_row_count(cols), None, dtype=object)


def _row_count(cols: Columns) -> int:
    if isinstance(cols, pd.DataFrame):
        return len(cols)
    return len(next(iter(cols.values()))) if cols else 0


def present_mask(s: pd.Series | np.ndarray) -> np.ndarray:
    """Boolean array: value is neither missing nor the empty string (normalised columns)."""
    values = np.asarray(s, dtype=object)
    mask = ~pd.isna(values)
    mask[mask] = values[mask] != ""
    return mask


# --------------------------------------------------------------------------- LinkedIn

_LINKEDIN_RE = re.compile(
    r"(?:[a-z][a-z0-9+.\-]*:)?/*"  # any scheme or none, tolerating missing or extra slashes
    r"(?:[^/?#@\s]*@)?"  # userinfo
    r"(?:[a-z0-9\-]+\.)*linkedin\.com\.?"  # www., m., uk., de. ... or bare
    r"(?::\d*)?"
    r"(?P<rest>[/?#].*)?",
    re.IGNORECASE | re.DOTALL,
)
# The shape most vendors send: no decoding or Unicode work needed (same result as below).
_FAST_LINKEDIN_RE = re.compile(
    r"https?://(?:www\.)?linkedin\.com/in/((?=[A-Za-z0-9\-]*[A-Za-z0-9])[A-Za-z0-9\-]{1,100})/?"
)
_SLUG_EXTRA_CHARS = frozenset("-_.~")


def _slug_ok(slug: str) -> bool:
    if not slug or len(slug) > MAX_LINKEDIN_SLUG_LENGTH:
        return False
    has_alnum = False
    for ch in slug:
        if ch.isalnum():
            has_alnum = True
        elif ch not in _SLUG_EXTRA_CHARS and unicodedata.category(ch)[0] != "M":
            return False
    return has_alnum


def canonical_linkedin_url(value: object) -> str | None:
    """`https://www.linkedin.com/in/<slug>` for a LinkedIn profile URL, else None.

    The slug is percent-decoded, NFC-normalised and lower-cased, then re-encoded with
    `quote(slug, safe="-_.~")`, so every spelling of one profile gives one ASCII key.
    Company, Sales Navigator, `/pub/` URLs and anything unparsable return None.
    """
    if not isinstance(value, str):
        return None
    s = value.replace("\x00", "").strip()
    if not s or len(s) > MAX_URL_LENGTH:
        return None
    fast = _FAST_LINKEDIN_RE.fullmatch(s)
    if fast is not None:
        return "https://www.linkedin.com/in/" + fast.group(1).lower()
    m = _LINKEDIN_RE.fullmatch(s)
    if m is None or not m.group("rest"):
        return None
    path = re.split(r"[?#]", m.group("rest"), maxsplit=1)[0]
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "" or parts[1].lower() != "in":
        return None
    slug = unquote(parts[2])
    # Lower-casing can un-normalise a few characters; iterate to a fixed point so that
    # canonicalising a canonical URL returns it unchanged.
    for _ in range(3):
        nxt = unicodedata.normalize("NFC", slug).lower()
        if nxt == slug:
            break
        slug = nxt
    if not _slug_ok(slug):
        return None
    return "https://www.linkedin.com/in/" + quote(slug, safe="-_.~")


def canonical_linkedin_urls(s: pd.Series) -> pd.Series:
    """`canonical_linkedin_url` over a Series (object dtype, None when not a profile)."""
    return map_distinct(s, canonical_linkedin_url)


# --------------------------------------------------------------------------- email

_PLACEHOLDER_LOCAL = "email_not_unlocked"
# A strict subset of what email-validator accepts for lower-case ASCII addresses (dot-atom
# local part, LDH labels without "--", alphabetic TLD). Matching it skips the ~40 us
# validator call; a test checks that the validator agrees on everything it matches.
_FAST_EMAIL_RE = re.compile(
    r"[a-z0-9_+\-]+(?:\.[a-z0-9_+\-]+)*@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?P<tld>[a-z]{2,63})"
)
_SPECIAL_USE_TLDS = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def _email_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    s = value.replace("\x00", "").strip().lower()
    return s or None


def _validate_email_text(s: str) -> tuple[str | None, str]:
    """(email, status) for trimmed lower-case text that is not empty."""
    if s.split("@", 1)[0] == _PLACEHOLDER_LOCAL:
        return None, "missing"  # Apollo's "not unlocked" placeholder: no email, not a bad one
    m = _FAST_EMAIL_RE.fullmatch(s)
    if (
        m is not None
        and len(s) <= 254
        and "--" not in s.split("@", 1)[1]
        and m["tld"] not in _SPECIAL_USE_TLDS
    ):
        return s, "unverified"
    try:
        v = validate_email(s, check_deliverability=False)
    except (EmailNotValidError, ValueError, UnicodeError):
        return None, "invalid"
    return v.normalized.lower(), "unverified"


def normalise_email(value: object) -> tuple[str | None, str]:
    """(email, status): ``(email, "unverified")`` when syntactically valid, ``(None, "invalid")``
    when present but not an address, ``(None, "missing")`` when empty or a placeholder.

    The email is trimmed and lower-cased; checked offline (no DNS).
    """
    s = _email_text(value)
    if s is None:
        if isinstance(value, str) or _is_missing(value):
            return None, "missing"
        return None, "invalid"  # a number or other non-text in the email field
    return _validate_email_text(s)


def normalise_emails(emails: pd.Series, vendor_status: pd.Series | None = None) -> pd.DataFrame:
    """DataFrame(`email`, `email_status`) for a Series of emails, index kept.

    A valid email whose vendor status is ``verified`` gets status ``verified``; any other
    vendor status leaves it ``unverified``. `vendor_status` aligns by position. Each
    distinct email is validated once.
    """
    pairs = map_distinct(emails, normalise_email).to_numpy(dtype=object)
    email = np.array([p[0] if p is not None else None for p in pairs], dtype=object)
    status = np.array([p[1] if p is not None else "missing" for p in pairs], dtype=object)
    if vendor_status is not None:
        vendor_verified = np.fromiter(
            (
                isinstance(v, str) and v.strip().lower() == "verified"
                for v in vendor_status.to_numpy(dtype=object)
            ),
            dtype=bool,
            count=len(vendor_status),
        )
        status[vendor_verified & (status == "unverified")] = "verified"
    return pd.DataFrame({"email": email, "email_status": status}, index=emails.index)


# --------------------------------------------------------------------------- names


def _special_name_words() -> frozenset[str]:
    sets = (
        "bound_first_names", "conjunctions", "first_name_titles", "non_first_name_prefixes", "prefixes",
        "suffix_acronyms", "suffix_acronyms_ambiguous", "suffix_not_acronyms", "titles",
    )  # fmt: skip
    return frozenset(w.lower() for name in sets for w in getattr(NAME_CONSTANTS, name))


# Words nameparser treats specially (titles, suffixes, prefixes, conjunctions): a name
# containing one goes to nameparser; "First Last" of two plain words does not need to.
_SPECIAL_NAME_WORDS = _special_name_words()
_PLAIN_NAME_WORD = re.compile(r"[A-Za-z]{2,}")


def _plain_two_words(full: str) -> tuple[str, str] | None:
    """(first, last) when `full` is two plain ASCII words, as nameparser would split it."""
    parts = full.split(" ")
    if len(parts) != 2:
        return None
    for p in parts:
        if _PLAIN_NAME_WORD.fullmatch(p) is None or p.lower() in _SPECIAL_NAME_WORDS:
            return None
    return parts[0], parts[1]


def split_name(
    full_name: object, first_name: object, last_name: object
) -> tuple[str | None, str | None, str | None]:
    """(full, first, last), cleaned; fills whichever is missing from the others.

    A missing full name is ``first + " " + last``; missing first/last names are parsed
    from the full name with nameparser (only then: it costs ~0.1 ms a call).
    """
    full, first, last = clean_str(full_name), clean_str(first_name), clean_str(last_name)
    if full is None:
        if first or last:
            full = " ".join(p for p in (first, last) if p)
        return full, first, last
    if (first is None or last is None) and len(full) <= MAX_FIELD_LENGTH:
        plain = _plain_two_words(full)
        if plain is not None:
            return full, first or plain[0], last or plain[1]
        try:
            parsed = HumanName(full)
            first = first or clean_str(parsed.first)
            last = last or clean_str(parsed.last)
        except Exception:  # nameparser on odd input is not worth failing a batch over
            pass
    return full, first, last


def split_names(full: pd.Series, first: pd.Series, last: pd.Series) -> pd.DataFrame:
    """DataFrame(`full_name`, `first_name`, `last_name`): `split_name` row-wise, index kept."""
    full, first, last = clean_text(full), clean_text(first), clean_text(last)
    f_arr, fi_arr, la_arr = (x.to_numpy(dtype=object).copy() for x in (full, first, last))
    need = np.flatnonzero(pd.isna(f_arr) | pd.isna(fi_arr) | pd.isna(la_arr))
    cache: dict[tuple, tuple] = {}
    for i in need:
        key = (f_arr[i], fi_arr[i], la_arr[i])
        res = cache.get(key)
        if res is None:
            res = cache[key] = split_name(*key)
        f_arr[i], fi_arr[i], la_arr[i] = res
    return pd.DataFrame({"full_name": f_arr, "first_name": fi_arr, "last_name": la_arr}, index=full.index)


# --------------------------------------------------------------------------- location


def _state_key(s: str) -> str:
    return re.sub(r"[\W_]+", "", s.lower())


def _build_state_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for st in US_STATES:
        for spelling in (st.abbr, st.name, st.ap_abbr or ""):
            if spelling:
                index[_state_key(spelling)] = st.abbr
    for spelling in ("Washington DC", "Washington D.C.", "DC", "Wash. D.C."):
        index[_state_key(spelling)] = "DC"
    return index


# Postal codes, names and AP abbreviations ("Calif.") of the 50 states and DC, built once.
_STATE_INDEX = _build_state_index()


@lru_cache(maxsize=4096)
def _state_lookup(text: str) -> str | None:
    key = _state_key(text)
    code = _STATE_INDEX.get(key)
    if code is not None:
        return code
    # us.states.lookup adds phonetic matching ("Kalifornia"); only for word-like text,
    # since it reads digits as FIPS codes. Territories and obsolete states are not states.
    if len(key) > 2 and len(text) <= 40 and key.isalpha():
        st = us.states.lookup(text)
        if st is not None and st.abbr in US_STATE_CODES:
            return st.abbr
    return None


def us_state_code(value: object) -> str | None:
    """Two-letter postal code of a US state or DC ("California", "ca", "Calif." -> "CA"); else None."""
    s = clean_str(value)
    if s is None or any(ch.isdigit() for ch in s):
        return None
    return _state_lookup(s)


def us_state_codes(s: pd.Series) -> pd.Series:
    """`us_state_code` over a Series."""
    return map_distinct(s, us_state_code)


_US_COUNTRY_KEYS = frozenset(
    {"us", "usa", "unitedstates", "unitedstatesofamerica", "theunitedstates", "theunitedstatesofamerica"}
)


def normalise_country(value: object) -> str | None:
    """Country: `US` for the United States in any common spelling, else the cleaned text."""
    s = clean_str(value)
    if s is None:
        return None
    key = re.sub(r"[\s.]", "", s.lower())
    return "US" if key in _US_COUNTRY_KEYS else s


def normalise_countries(s: pd.Series) -> pd.Series:
    """`normalise_country` over a Series."""
    return map_distinct(s, normalise_country)


# --------------------------------------------------------------------------- phone

# A plain NANP number: parsed without phonenumbers.parse, which costs ~20 us a call.
_NANP_RE = re.compile(r"(?:\+?1[\s.\-]?)?\(?([2-9]\d{2})\)?[\s.\-]?(\d{3})[\s.\-]?(\d{4})")


def normalise_phone(value: object, region: str = "US") -> str | None:
    """E.164 text ("+14155550123") of a valid phone number, else None.

    Numbers without a ``+`` country code are read as numbers of `region`.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        s: str | None = str(int(value))
    elif isinstance(value, (float, np.floating)):
        s = str(int(value)) if math.isfinite(value) and float(value).is_integer() else None
    else:
        s = clean_str(value)
    if s is None:
        return None
    if region == "US":
        m = _NANP_RE.fullmatch(s)
        if m is not None:
            number = phonenumbers.PhoneNumber(country_code=1, national_number=int("".join(m.groups())))
            if phonenumbers.is_valid_number_for_region(number, "US"):
                return "+1" + "".join(m.groups())
    try:
        number = phonenumbers.parse(s, region)
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except Exception:  # NumberParseException, and anything odd input provokes in the library
        return None


def normalise_phones(s: pd.Series, region: str = "US") -> pd.Series:
    """`normalise_phone` over a Series."""
    return map_distinct(s, lambda v: normalise_phone(v, region))


# --------------------------------------------------------------------------- company

_SCHEME_RE = re.compile(r"^(?:[a-z][a-z0-9+.\-]*:)?//")


# A bare lower-case host name, as vendors mostly send it: already what `website_domain` returns.
_FAST_DOMAIN_RE = re.compile(
    r"(?!www\.)(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?=[a-z0-9\-]*[a-z])[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"
)


def website_domain(value: object) -> str | None:
    """Bare lower-case domain of a website ("https://www.Acme.com:443/x?y" -> "acme.com").

    None for text with spaces, without a dot, with invalid labels or a numeric TLD.
    """
    if isinstance(value, str) and len(value) <= 253 and _FAST_DOMAIN_RE.fullmatch(value) is not None:
        return value
    return _parse_website_domain(value)


def _parse_website_domain(value: object) -> str | None:
    s = clean_str(value)
    if s is None or " " in s or len(s) > MAX_URL_LENGTH:
        return None
    s = _SCHEME_RE.sub("", s.lower(), count=1)
    s = re.split(r"[/?#\\]", s, maxsplit=1)[0]
    s = s.rsplit("@", 1)[-1]
    s = re.sub(r":\d*$", "", s).rstrip(".")
    if s.startswith("www.") and s.count(".") >= 2:
        s = s[4:]
    labels = s.split(".")
    if len(labels) < 2 or len(s) > 253 or labels[-1].isdigit():
        return None
    for label in labels:
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-":
            return None
        if not all(ch.isalnum() or ch == "-" for ch in label):
            return None
    return s


def website_domains(s: pd.Series) -> pd.Series:
    """`website_domain` over a Series."""
    return map_distinct(s, website_domain)


_SIZE_RE = re.compile(
    r"[<>~]?\s*(\d+(?:\.\d+)?)\s*([km])?\s*(?:\+|(?:-|–|—|to)\s*\d+(?:\.\d+)?\s*[km]?)?"
    r"(?:\s*(?:employees?|people|staff))?"
)


def normalise_company_size(value: object) -> int | None:
    """Employee count as an int, or None.

    Accepts ints, numeric floats/strings ("1,200") and ranges ("51-200", "10,001+",
    "1k-5k employees"). A range gives its LOWER bound: open ranges ("10,001+") only have
    one, so "at least N employees" is the one reading every vendor format supports.
    Values <= 0 or above 10 million are errors and return None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        n: float = int(value)
    elif isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        n = float(value)
    else:
        s = clean_str(value)
        if s is None:
            return None
        m = _SIZE_RE.fullmatch(s.lower().replace(",", ""))
        if m is None:
            return None
        n = float(m.group(1)) * {"k": 1_000, "m": 1_000_000, None: 1}[m.group(2)]
    if not 0 < n <= MAX_COMPANY_SIZE:  # also rejects inf from a 400-digit string
        return None
    size = int(round(n))
    return size if size > 0 else None


def company_sizes(s: pd.Series) -> pd.Series:
    """`normalise_company_size` over a Series, as nullable Int64."""
    return map_distinct(s, normalise_company_size).astype("Int64")


def _http_url(value: object) -> str | None:
    s = clean_str(value)
    if s is None or " " in s or len(s) > MAX_URL_LENGTH or not re.match(r"https?://[^/\s]+", s, re.I):
        return None
    return s


# --------------------------------------------------------------------------- validity

def _is_text(values: np.ndarray, pred: Callable[[str], bool] = bool) -> np.ndarray:
    """Bool array: the value is text and `pred(text)` holds (default: not empty)."""
    return np.fromiter((isinstance(v, str) and pred(v) for v in values), bool, len(values))


def _length_ok(values: np.ndarray, max_len: int = MAX_FIELD_LENGTH) -> np.ndarray:
    return _is_text(values, lambda v: 0 < len(v) <= max_len)


_HAS_LETTER = re.compile(r"[^\W\d_]")
_CANONICAL_LINKEDIN_PREFIX = "https://www.linkedin.com/in/"


def location_checks(df: Columns) -> dict[str, np.ndarray]:
    """Bool arrays for the location of normalised leads.

    `city_present`, `city_ok` (present and <= 200 chars), `state_present`, `state_ok`
    (a US code when the country is US or unknown, any text elsewhere) and `us_state`
    (country "US" and a US state code: what the location score part counts).
    """
    city = column_values(df, "location_city")
    state = column_values(df, "location_state")
    country = column_values(df, "location_country")
    state_present = _is_text(state, str.strip)
    # A US (or unknown) country needs a real state code; elsewhere any state text will do.
    in_us = _is_text(country, "US".__eq__)
    us_or_unknown = in_us | pd.isna(country)
    us_code = _is_text(state, US_STATE_CODES.__contains__)
    return {
        "city_present": present_mask(city),
        "city_ok": _length_ok(city),
        "state_present": state_present,
        "state_ok": state_present & np.where(us_or_unknown, us_code, True),
        "us_state": us_code & in_us,
    }


def required_field_checks(df: Columns, loc: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Bool array per REQUIRED_FIELDS entry (in that order), for normalised leads.

    full_name: 1-200 chars with a letter; linkedin_url: canonical (not None); job_title
    and company_name: 1-200 chars; location: a city (<= 200 chars) and a state, which must
    be a US state code when the country is US or unknown. Scoring uses this too, so the
    6-point parts and `validation_errors` always agree. `loc`: `location_checks(df)`, when
    the caller has it already.
    """
    loc = location_checks(df) if loc is None else loc
    checks = {
        "full_name": _is_text(column_values(df, "full_name"),
                              lambda v: 0 < len(v) <= MAX_FIELD_LENGTH and _HAS_LETTER.search(v) is not None),
        "linkedin_url": _is_text(column_values(df, "linkedin_url"), lambda v: v.startswith(_CANONICAL_LINKEDIN_PREFIX)),
        "job_title": _length_ok(column_values(df, "job_title")),
        "company_name": _length_ok(column_values(df, "company_name")),
        "location": loc["city_ok"] & loc["state_ok"],
    }
    return {f: checks[f] for f in REQUIRED_FIELDS}


def _validation_errors(out: Columns, raw_linkedin: pd.Series) -> list[str]:
    """';'-joined error codes per row ('' when every required field is valid)."""
    full = column_values(out, "full_name")
    full_present = present_mask(full)
    full_len = _is_text(full, lambda v: len(v) > MAX_FIELD_LENGTH)
    loc = location_checks(out)
    valid = required_field_checks(out, loc)
    linkedin_bad = ~valid["linkedin_url"]
    # Only rows without a canonical URL need to know whether the vendor sent anything.
    raw_linkedin_present = np.zeros(len(full), dtype=bool)
    raw = raw_linkedin.to_numpy(dtype=object)
    for i in np.flatnonzero(linkedin_bad):
        raw_linkedin_present[i] = clean_str(raw[i]) is not None
    checks: list[tuple[str, np.ndarray]] = [
        ("full_name:missing", ~full_present),
        ("full_name:too_long", full_len),
        ("full_name:invalid", full_present & ~full_len & ~valid["full_name"]),
        ("linkedin_url:missing", linkedin_bad & ~raw_linkedin_present),
        ("linkedin_url:invalid", linkedin_bad & raw_linkedin_present),
    ]
    for field in ("job_title", "company_name"):
        present = present_mask(column_values(out, field))
        checks += [(f"{field}:missing", ~present), (f"{field}:too_long", present & ~valid[field])]
    checks += [
        ("location:missing_city", ~loc["city_present"]),
        ("location:city_too_long", loc["city_present"] & ~loc["city_ok"]),
        ("location:missing_state", ~loc["state_present"]),
        ("location:invalid_state", loc["state_present"] & ~loc["state_ok"]),
    ]
    errors: dict[int, list[str]] = {}  # most rows have none
    for code, mask in checks:
        for i in np.flatnonzero(mask):
            errors.setdefault(i, []).append(code)
    joined = [""] * len(full)
    for i, codes in errors.items():
        joined[i] = ";".join(codes)
    return joined


# --------------------------------------------------------------------------- batch


def normalise_leads(df: pd.DataFrame, matcher: TitleMatcher) -> pd.DataFrame:
    """Normalised copy of a batch of vendor leads (same index, one row per input row).

    Reads LEAD_INPUT_COLUMNS (absent ones are None) and returns them normalised, plus
    `target_role`, `validation_errors` and `needs_enrichment`; `email_status` becomes
    missing/invalid/unverified/verified. Columns outside LEAD_INPUT_COLUMNS pass through
    unchanged after them (e.g. `vendor_person_id` for dedup keys). Never raises on odd
    values: what cannot be normalised becomes None and shows up in the errors.

    location_state becomes a postal code when the state is a US state and the country is
    US or missing (a missing country then becomes "US"); otherwise it stays as cleaned.
    Only required fields produce `validation_errors`; email problems live in
    `email_status`. company_size is the employee count (lower bound of a range).
    needs_enrichment: a required field is invalid, there is no usable email (none, or
    the incoming status says ``undeliverable``), or website/industry/size is missing.
    """
    col = {c: column_or_none(df, c) for c in LEAD_INPUT_COLUMNS}
    fields = _normalised_fields(col, matcher)
    fields["validation_errors"] = _validation_errors(fields, col["linkedin_url"])
    fields["needs_enrichment"] = _needs_enrichment(fields, col["email_status"].to_numpy(dtype=object))
    for extra in df.columns:
        if extra not in fields:
            fields[extra] = df[extra].array
    return pd.DataFrame(fields, index=df.index)


def _normalised_fields(col: Mapping[str, pd.Series], matcher: TitleMatcher) -> dict[str, object]:
    """LEAD_INPUT_COLUMNS normalised, plus `target_role`: column -> array, in the lead's column order."""
    names = split_names(col["full_name"], col["first_name"], col["last_name"])
    emails = normalise_emails(col["email"], col["email_status"])
    state, country = _state_and_country(col["location_state"], col["location_country"])
    job_title = clean_text(col["job_title"])
    return {
        "full_name": names["full_name"].to_numpy(),
        "first_name": names["first_name"].to_numpy(),
        "last_name": names["last_name"].to_numpy(),
        "linkedin_url": canonical_linkedin_urls(col["linkedin_url"]).to_numpy(),
        "job_title": job_title.to_numpy(),
        "company_name": clean_text(col["company_name"]).to_numpy(),
        "location_city": clean_text(col["location_city"]).to_numpy(),
        "location_state": state,
        "location_country": country,
        "email": emails["email"].to_numpy(),
        "email_status": emails["email_status"].to_numpy(),
        "phone": normalise_phones(col["phone"]).to_numpy(),
        "company_website": website_domains(col["company_website"]).to_numpy(),
        "company_industry": clean_text(col["company_industry"], max_len=MAX_FIELD_LENGTH).to_numpy(),
        "company_size": company_sizes(col["company_size"]).array,
        "profile_picture_url": map_distinct(col["profile_picture_url"], _http_url).to_numpy(),
        "target_role": matcher.match_series(job_title).to_numpy(dtype=object),
    }


def _state_and_country(state_in: pd.Series, country_in: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(location_state, location_country): a US state becomes its postal code when the country
    is US or missing, and a missing country then becomes "US"; any other state stays as cleaned."""
    country = normalise_countries(country_in).to_numpy(dtype=object)
    state = clean_text(state_in).to_numpy(dtype=object)
    state_code = us_state_codes(pd.Series(state, dtype=object)).to_numpy(dtype=object)
    country_missing = pd.isna(country)
    is_code = ~pd.isna(state_code)
    use_code = is_code & (country_missing | (country == "US"))
    state[use_code] = state_code[use_code]
    country[country_missing & is_code] = "US"
    return state, country


def _needs_enrichment(fields: Mapping[str, object], vendor_status: np.ndarray) -> np.ndarray:
    """A required field is invalid, there is no usable email, or company data is missing."""
    company_missing = np.zeros(len(vendor_status), dtype=bool)
    for field in COMPANY_FIELDS:
        company_missing |= pd.isna(column_values(fields, field))
    # An address a verifier already marked undeliverable (re-normalised stored rows) is not usable.
    undeliverable = _is_text(vendor_status, lambda v: v.strip().lower() == "undeliverable")
    return (
        np.array(fields["validation_errors"], dtype=object) != ""
    ) | pd.isna(column_values(fields, "email")) | undeliverable | company_missing
