"""Import lead lists exported as CSV (Sales Navigator-sourced leads, CRM exports).

The project never scrapes LinkedIn: Sales Navigator has no lead-export API open to new
partners and scraping breaks LinkedIn's User Agreement. Teams instead drop CSV files they
already hold lawfully (an export their contract allows, or leads Sales Navigator's CRM
Sync wrote back to the CRM, exported from the CRM). This module turns such a file into
records of the `vendor_records.MAPPED_FIELDS` shape; it does no I/O and knows nothing of
Dagster or the database. See docs/sales_navigator_import.md.

What a file needs (checked on the header; otherwise the whole file is rejected):

- a name: a full-name column, or both a first-name and a last-name column;
- an identifier: a LinkedIn URL column (public ``/in/`` or Sales Navigator URL) or an
  email column.

Each data row needs some name text and either a public ``/in/`` URL, a Sales Navigator
lead URL or a syntactically valid email; rows without are rejected with their line number.

`parse_export` never raises on file content: a file that cannot be imported at all gets
`ImportResult.file_error` and nothing else; otherwise every non-blank data record ends in
exactly one of `records` and `rejected_rows`, keyed by the physical line it starts on.
Cell text is kept verbatim apart from surrounding whitespace (SQL, HTML or spreadsheet
formulas are data; they are escaped where they are output).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from lead_assets.core.normalise import (
    canonical_linkedin_url,
    clean_str,
    normalise_country,
    normalise_email,
    us_state_code,
    website_domain,
)

# Canonical column -> accepted header spellings, in priority order (when a file has two
# columns for one canonical name, e.g. "Email" and "Work Email", a row takes the first
# non-empty one in this order). Headers match case-insensitively, ignoring whitespace,
# punctuation (`_`, `-`, `/`, ...) and a byte-order mark: "FirstName", "first_name" and
# "FIRST NAME" are the same header.
#
# Required: full_name OR (first_name AND last_name), AND linkedin_url OR email.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "full_name": ("Name", "Full Name", "Lead Name", "Contact Name"),
    "first_name": ("First Name", "first_name", "FirstName", "Given Name"),
    "last_name": ("Last Name", "last_name", "LastName", "Surname", "Family Name"),
    "linkedin_url": (
        "LinkedIn URL",
        "LinkedIn Profile URL",
        "Profile URL",
        "LinkedIn Profile",
        "LinkedIn",
        "Person Linkedin Url",
        "Sales Navigator URL",
        "Sales Navigator Profile URL",
        "Lead URL",
    ),
    "email": ("Email", "Email Address", "Work Email", "Business Email", "E-mail"),
}
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "job_title": ("Title", "Job Title", "Current Title", "Position", "Current Position"),
    "company_name": (
        "Company",
        "Company Name",
        "Account Name",
        "Current Company",
        "Organization",
        "Organisation",
    ),
    "phone": ("Phone", "Phone Number", "Work Phone", "Mobile Phone", "Mobile", "Direct Phone"),
    "location_city": ("City", "Location City"),
    "location_state": ("State", "Region", "State/Province", "Province", "Location State"),
    "location_country": ("Country", "Country/Region", "Location Country"),
    # One "City, State, Country" text, split when the row has no city/state/country value.
    "location": ("Location", "Geography", "Lead Location"),
    "company_website": ("Company Website", "Website", "Company Domain", "Domain", "Website URL"),
    "company_industry": ("Industry", "Company Industry"),
    "company_size": (
        "Company Size",
        "Employees",
        "Headcount",
        "Company Headcount",
        "Employee Count",
        "Number of Employees",
    ),
    "email_status": ("Email Status",),
    "profile_picture_url": ("Profile Picture URL", "Photo URL"),
    # A vendor's stable per-row id (Apollo's contact id): only a column mapping names its header.
    "vendor_record_id": (),
}
# Column sets of which the header needs one, and of which it needs one.
NAME_COLUMN_SETS: tuple[tuple[str, ...], ...] = (("full_name",), ("first_name", "last_name"))
IDENTIFIER_COLUMNS: tuple[str, ...] = ("linkedin_url", "email")

DELIMITERS: tuple[str, ...] = (",", ";", "\t")
# Larger files are refused (a lead list this big is not a hand-held export).
MAX_FILE_BYTES = 50 * 1024 * 1024
# A quoted field may hold newlines, but a record spanning more physical lines than this
# is treated as an unterminated quote (and bounds the cost of recovering from one).
MAX_RECORD_LINES = 100
# More undecodable lines than this share of the non-blank ones: the file is not text.
MAX_UNDECODABLE_SHARE = 0.5
# More control characters than this share of the text: the file is binary.
MAX_CONTROL_SHARE = 0.01

_HEADER_KEY_RE = re.compile(r"[\W_]+")
_BLANK_LINE_RE = re.compile(r"[\s,;]*")
_SEP_LINE_RE = re.compile(r'"?sep=([^\w"\r\n])"?')
_LINE_RE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
# C0/C1 controls other than tab, newlines, vertical tab and form feed, plus DEL.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_HAS_LETTER_RE = re.compile(r"[^\W\d_]")
_SALES_NAV_RE = re.compile(
    r"(?:^|[/.@])linkedin\.com\.?(?::\d*)?/sales/(?:lead|people)/([A-Za-z0-9_\-]{1,100})(?=$|[,/?#])",
    re.IGNORECASE,
)
_METRO_SUFFIX_RE = re.compile(r"\s+(?:metropolitan|metro)?\s*area$", re.IGNORECASE)
_METRO_RE = re.compile(r"\b(?:area|greater|metropolitan|metro|region)\b", re.IGNORECASE)
_PARENTHETICAL_RE = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_NAME_PUNCT_RE = re.compile(r"[^\w\s]|_")

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook?): export it as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Excel/OLE file (.xls?): export it as CSV"),
    (b"%PDF", "a PDF document, not CSV"),
    (b"\x1f\x8b", "a gzip archive: decompress it first"),
)


def _header_key(name: str) -> str:
    return _HEADER_KEY_RE.sub("", name.casefold())


def _build_header_index(extra: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[str, int]]:
    """Normalised header -> (canonical column, priority); `extra` spellings (a column-mapping file's)
    come first and may claim a header the built-in lists give another meaning."""
    index: dict[str, tuple[str, int]] = {}
    for canonical, spellings in (extra or {}).items():
        if canonical not in REQUIRED_COLUMNS and canonical not in OPTIONAL_COLUMNS:
            raise ValueError(f"column mapping names unknown field {canonical!r} (known: "
                             f"{', '.join([*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS])})")
        for priority, spelling in enumerate(spellings):
            owner = index.setdefault(_header_key(spelling), (canonical, priority - len(spellings)))
            if owner[0] != canonical:
                raise ValueError(f"column mapping lists header {spelling!r} for {owner[0]} and {canonical}")
    claimed = set(index)
    for columns in (REQUIRED_COLUMNS, OPTIONAL_COLUMNS):
        for canonical, spellings in columns.items():
            for priority, spelling in enumerate(spellings):
                key = _header_key(spelling)
                if key in claimed:
                    continue
                owner = index.setdefault(key, (canonical, priority))
                if owner[0] != canonical:  # a spelling may only mean one thing
                    raise ValueError(f"header {spelling!r} is listed for {owner[0]} and {canonical}")
    return index


# Normalised header -> (canonical column, priority).
HEADER_INDEX: dict[str, tuple[str, int]] = _build_header_index()


@dataclass
class ImportResult:
    """What `parse_export` made of one file.

    `records`: (line, record) for each imported row, record in the MAPPED_FIELDS shape;
    `alternate_urls`: line -> Sales Navigator URL for rows that carried one instead of a
    public ``/in/`` URL (their record's linkedin_url is None); `rejected_rows`: (line,
    reason, raw text); `file_error`: why nothing of the file was imported, else None.
    Lines are 1-based physical lines where the record starts. `encoding`, `delimiter`
    and `column_map` (canonical column -> headers used, in priority order) describe
    how the file was read.
    """

    filename: str
    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    alternate_urls: dict[int, str] = field(default_factory=dict)
    rejected_rows: list[tuple[int, str, str]] = field(default_factory=list)
    file_error: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    column_map: dict[str, tuple[str, ...]] = field(default_factory=dict)
    headers: tuple[str, ...] = ()  # every header name of the file, as written


# --------------------------------------------------------------------------- identifiers


def sales_navigator_lead_id(url: object) -> str | None:
    """The lead id of a Sales Navigator lead URL, else None.

    ``https://www.linkedin.com/sales/lead/ACwAAA123,NAME_SEARCH,xY1z`` and
    ``.../sales/people/ACwAAA123,name`` give ``ACwAAA123`` (case kept: it is an encoded
    id). Percent-encoding (``%2C``) is decoded first; public ``/in/`` URLs give None.
    """
    if not isinstance(url, str):
        return None
    s = url.replace("\x00", "").strip()
    if not s or len(s) > 2048:
        return None
    m = _SALES_NAV_RE.search(unquote(s))
    return m.group(1) if m else None


def normalise_person_name(name: object) -> str | None:
    """Name for matching: casefolded, accents stripped, parenthesised parts ("(She/Her)")
    and punctuation removed, whitespace collapsed; None when nothing is left."""
    s = clean_str(name)
    if s is None:
        return None
    s = _PARENTHETICAL_RE.sub(" ", s)
    if s.isascii():  # most names: casefold is lower, and NFKD finds no accent to strip
        s = s.lower()
    else:
        s = unicodedata.normalize("NFKD", s.casefold())
        s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = " ".join(_NAME_PUNCT_RE.sub("", s).split())
    return s or None


def match_key_name_domain(full_name: object, company_domain_or_website: object) -> str | None:
    """``"jane doe|acme.com"``: normalised name + bare company domain, or None.

    Matches a row without a public ``/in/`` URL to an existing lead by name and company
    domain. The domain comes from `website_domain` (scheme, ``www.``, path and port
    dropped); linkedin.com (a company page, not a website) gives None, as does an
    empty name or an unparsable domain.
    """
    name = normalise_person_name(full_name)
    domain = website_domain(company_domain_or_website)
    if name is None or domain is None or domain == "linkedin.com" or domain.endswith(".linkedin.com"):
        return None
    return f"{name}|{domain}"


def split_location(text: object) -> tuple[str | None, str | None, str | None]:
    """(city, state, country) of one LinkedIn-style location text.

    "Austin, Texas, United States" -> all three; "Austin, Texas" or "Austin, Texas
    Metropolitan Area" -> city and state; "Texas, United States" -> state and country;
    "London, United Kingdom" -> city and country; a single part is a country, a US
    state, or a city when it names a metro area ("Greater Boston"). Four or more parts:
    first, second-to-last and last.
    """
    s = clean_str(text)
    if s is None:
        return None, None, None
    parts = [p.strip() for p in s.split(",") if p.strip()]
    if not parts:
        return None, None, None
    if len(parts) == 1:
        p = parts[0]
        if normalise_country(p) == "US":
            return None, None, p
        if us_state_code(p):
            return None, p, None
        if _METRO_RE.search(p):
            return p, None, None
        return None, None, p
    if len(parts) == 2:
        first, second = parts
        second_state = _METRO_SUFFIX_RE.sub("", second)
        if us_state_code(second_state):
            return first, second_state, None
        if normalise_country(second) == "US" and us_state_code(first):
            return None, first, second
        return first, None, second
    return parts[0], parts[-2], parts[-1]


# --------------------------------------------------------------------------- decoding


@dataclass
class _Text:
    lines: list[str]  # physical lines, line endings kept
    undecodable: dict[int, str]  # line index -> the line with its bad bytes backslash-escaped
    encoding: str


def _split_text_lines(text: str) -> list[str]:
    # Only \r\n, \r and \n end a line (not \u2028, \x85, ...): the breaks csv knows.
    return io.StringIO(text, newline="").readlines()


def _decode(data: bytes) -> _Text | str:
    """Physical lines of the file, or the reason it is not text we can read."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return f"not a CSV file: {what}"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return "not valid UTF-16 text (the file starts with a UTF-16 byte-order mark)"
        return _Text(_split_text_lines(text), {}, "utf-16")
    bom = data.startswith(b"\xef\xbb\xbf")
    body = data[3:] if bom else data
    raw_lines = [m.group() for m in _LINE_RE.finditer(body)]
    lines: list[str] = []
    undecodable: dict[int, str] = {}
    non_ascii_utf8 = False
    for i, raw in enumerate(raw_lines):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            undecodable[i] = raw.decode("utf-8", "backslashreplace")
            line = raw.decode("utf-8", "replace")
        else:
            non_ascii_utf8 = non_ascii_utf8 or not raw.isascii()
        lines.append(line)
    if not undecodable:
        return _Text(lines, {}, "utf-8-sig" if bom else "utf-8")
    if not bom and not non_ascii_utf8:
        # Not UTF-8 anywhere: Windows-1252 (Excel's "CSV" on Western Windows) if it decodes cleanly.
        try:
            return _Text([raw.decode("cp1252") for raw in raw_lines], {}, "cp1252")
        except UnicodeDecodeError:
            pass
    # Mostly UTF-8 with some bad lines: those rows are rejected (if few enough, see below).
    return _Text(lines, undecodable, "utf-8-sig" if bom else "utf-8")


def _text_problem(text: _Text) -> str | None:
    joined = "".join(text.lines)
    if not joined.strip().strip("\ufeff").strip():
        return "empty file"
    if "\x00" in joined:
        return "binary data (NUL bytes): not a CSV text file, or UTF-16 saved without a byte-order mark"
    if len(_CONTROL_RE.findall(joined)) > MAX_CONTROL_SHARE * len(joined):
        return "binary data (control characters): not a CSV text file"
    if text.undecodable:
        non_blank = sum(1 for line in text.lines if line.strip())
        if len(text.undecodable) > MAX_UNDECODABLE_SHARE * max(non_blank, 1):
            return "not text in a supported encoding (UTF-8, UTF-16 with byte-order mark, Windows-1252)"
    return None


# --------------------------------------------------------------------------- CSV records


class _LineSource:
    """Iterator over physical lines for csv.reader that can stop early and tells when it did."""

    def __init__(self, lines: list[str], pos: int) -> None:
        self.lines = lines
        self.pos = pos
        self.limit = len(lines)
        self.starved = False

    def __iter__(self) -> _LineSource:
        return self

    def __next__(self) -> str:
        if self.pos >= self.limit:
            self.starved = True
            raise StopIteration
        line = self.lines[self.pos]
        self.pos += 1
        return line


class _Cursor:
    """Reads CSV records one at a time, restartable at any physical line."""

    def __init__(self, lines: list[str], delimiter: str, pos: int) -> None:
        self.lines = lines
        self.delimiter = delimiter
        self.restart(pos)

    def restart(self, pos: int) -> None:
        self.src = _LineSource(self.lines, pos)
        self.reader = csv.reader(
            self.src, delimiter=self.delimiter, quotechar='"', doublequote=True, strict=False
        )

    def next_record(self) -> tuple[int, int, list[str] | None, str | None] | None:
        """(start, end, fields, None) or (start, start + 1, None, reason); None at the end.

        A csv error or a quote still open at the end of the file (or after
        MAX_RECORD_LINES lines) rejects the first line only; reading restarts after it.
        """
        start = self.src.pos
        if start >= len(self.lines):
            return None
        self.src.limit = min(len(self.lines), start + MAX_RECORD_LINES)
        self.src.starved = False
        try:
            fields = next(self.reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            self.restart(start + 1)
            return start, start + 1, None, f"csv_error: {exc}"
        if self.src.starved:
            self.restart(start + 1)
            return start, start + 1, None, "unterminated_quote: a quoted field is never closed"
        return start, self.src.pos, fields, None


def _is_blank(fields: list[str]) -> bool:
    return all(not f.strip() for f in fields)


@dataclass
class _Header:
    line_index: int
    names: list[str]
    columns: dict[str, list[int]]  # canonical -> column indexes, priority order
    named_width: int  # columns up to the last named one
    error: str | None
    data_start: int


def _read_header(lines: list[str], pos: int, delimiter: str, header_index: dict[str, tuple[str, int]]) -> _Header | None:
    cursor = _Cursor(lines, delimiter, pos)
    rec = cursor.next_record()
    if rec is None or rec[2] is None:
        return None
    start, end, names, _ = rec
    found: dict[str, list[tuple[int, int]]] = {}
    seen: dict[str, int] = {}
    error = None
    for i, name in enumerate(names):
        key = _header_key(name)
        hit = header_index.get(key)
        if hit is None:
            continue
        if key in seen and error is None:
            error = f"duplicate column {name.strip()!r} (columns {seen[key] + 1} and {i + 1})"
        seen[key] = i
        found.setdefault(hit[0], []).append((hit[1], i))
    columns = {canonical: [i for _, i in sorted(hits)] for canonical, hits in found.items()}
    named_width = max((i + 1 for i, n in enumerate(names) if n.strip()), default=0)
    if error is None:
        if not any(all(c in columns for c in group) for group in NAME_COLUMN_SETS):
            error = "no name column: need 'Name' (or 'Full Name'), or both 'First Name' and 'Last Name'"
        elif not any(c in columns for c in IDENTIFIER_COLUMNS):
            error = "no identifier column: need a LinkedIn URL column ('LinkedIn URL', 'Profile URL', 'Sales Navigator URL', ...) or 'Email'"
    if error is not None:
        shown = ", ".join(repr(n.strip()) for n in names[:12]) + (", ..." if len(names) > 12 else "")
        error = f"header rejected: {error}; found columns {shown}"
    return _Header(start, names, columns, named_width, error, end)


def _choose_header(lines: list[str], pos: int, forced: str | None,
                   header_index: dict[str, tuple[str, int]]) -> tuple[_Header, str] | str:
    best: tuple[tuple[int, int, int], _Header, str] | None = None
    for rank, delimiter in enumerate([forced] if forced else DELIMITERS):
        header = _read_header(lines, pos, delimiter, header_index)
        if header is None:
            continue
        score = (len(header.columns), len(header.names), -rank)
        if best is None or score > best[0]:
            best = (score, header, delimiter)
    if best is None:
        return "header rejected: the first line is not a CSV record (unterminated quote?)"
    _, header, delimiter = best
    return (header, delimiter) if header.error is None else header.error


# --------------------------------------------------------------------------- rows


def _cell(fields: list[str], columns: dict[str, list[int]], canonical: str) -> str | None:
    for i in columns.get(canonical, ()):
        if i < len(fields):
            v = fields[i].strip()
            if v:
                return v
    return None


def _row_record(fields: list[str], header: _Header) -> tuple[dict[str, Any] | None, str | None, str]:
    """(record, sales navigator URL or None, '') or (None, None, reason)."""
    cols = header.columns
    full, first, last = (_cell(fields, cols, c) for c in ("full_name", "first_name", "last_name"))
    name = full or " ".join(p for p in (first, last) if p) or None
    if name is None or not _HAS_LETTER_RE.search(name):
        return None, None, "no_name: the row has no name"
    public = lead_id = sales_url = other_url = None
    for i in cols.get("linkedin_url", ()):
        v = fields[i].strip() if i < len(fields) else ""
        if not v:
            continue
        canon = canonical_linkedin_url(v)
        if canon is not None:
            public = public or canon
            continue
        lid = sales_navigator_lead_id(v)
        if lid is not None:
            if lead_id is None:
                lead_id, sales_url = lid, v
            continue
        other_url = other_url or v
    email_text = _cell(fields, cols, "email")
    email, _ = normalise_email(email_text)
    if public is None and lead_id is None and email is None:
        return None, None, "no_identifier: no LinkedIn profile URL, Sales Navigator lead URL or valid email"
    if lead_id is not None:
        vendor_id = lead_id
    elif public is not None:
        vendor_id = public.rsplit("/", 1)[1]
    else:
        key = f"{normalise_person_name(name) or ''}|{email}"
        vendor_id = hashlib.sha1(key.encode("utf-8")).hexdigest()
    city, state, country = (
        _cell(fields, cols, c) for c in ("location_city", "location_state", "location_country")
    )
    if city is None and state is None and country is None:
        city, state, country = split_location(_cell(fields, cols, "location"))
    record: dict[str, Any] = {
        "vendor_person_id": vendor_id,
        "full_name": name,
        "first_name": first,
        "last_name": last,
        "linkedin_url": public or (None if lead_id else other_url),
        "job_title": _cell(fields, cols, "job_title"),
        "company_name": _cell(fields, cols, "company_name"),
        "location_city": city,
        "location_state": state,
        "location_country": country,
        "email": email_text,
        "email_status": _cell(fields, cols, "email_status"),
        "phone": _cell(fields, cols, "phone"),
        "company_website": _cell(fields, cols, "company_website"),
        "company_industry": _cell(fields, cols, "company_industry"),
        "company_size": _cell(fields, cols, "company_size"),
        "profile_picture_url": _cell(fields, cols, "profile_picture_url"),
    }
    if "vendor_record_id" in cols:
        record["vendor_record_id"] = _cell(fields, cols, "vendor_record_id")
    return record, (sales_url if public is None else None), ""


def parse_export(data: bytes, filename: str, *, max_bytes: int = MAX_FILE_BYTES,
                 columns: Mapping[str, Sequence[str]] | None = None) -> ImportResult:
    """Parse one CSV lead export into records, rejected rows, or one file error.

    Encoding: UTF-8 (BOM optional), UTF-16 with BOM, else Windows-1252 when the bytes are
    not UTF-8 anywhere and decode cleanly; a mostly-UTF-8 file's undecodable lines are
    rejected rows. Delimiter: ``,`` ``;`` or tab, whichever makes the header match the
    most known columns (an Excel ``sep=X`` first line forces X). The header is the first
    non-blank line; blank records (only whitespace/delimiters) are skipped. A row may
    omit trailing unnamed columns and carry trailing empty fields; any other field count
    is rejected. Never raises on content. `columns` (canonical field -> header spellings, e.g. from a
    column-mapping file) is read before the built-in spellings; ValueError if it names an unknown field.
    """
    header_index = HEADER_INDEX if not columns else _build_header_index(columns)
    result = ImportResult(filename=filename)
    data = bytes(data)
    if len(data) > max_bytes:
        result.file_error = f"file too large: {len(data)} bytes (limit {max_bytes})"
        return result
    text = _decode(data)
    if isinstance(text, str):
        result.file_error = text
        return result
    problem = _text_problem(text)
    if problem is not None:
        result.file_error = problem
        return result
    lines = text.lines
    pos = 0
    while pos < len(lines) and _BLANK_LINE_RE.fullmatch(lines[pos].lstrip("\ufeff")):
        pos += 1
    forced = None
    sep = _SEP_LINE_RE.fullmatch(lines[pos].lstrip("\ufeff").rstrip("\r\n")) if pos < len(lines) else None
    if sep is not None:
        forced = sep.group(1)
        pos += 1
        while pos < len(lines) and _BLANK_LINE_RE.fullmatch(lines[pos]):
            pos += 1
    if pos >= len(lines):
        result.file_error = "empty file: no header line"
        return result
    if pos in text.undecodable:
        result.file_error = "header rejected: the header line is not valid UTF-8"
        return result
    chosen = _choose_header(lines, pos, forced, header_index)
    if isinstance(chosen, str):
        result.file_error = chosen
        return result
    header, delimiter = chosen
    if any(i in text.undecodable for i in range(header.line_index, header.data_start)):
        result.file_error = "header rejected: the header line is not valid UTF-8"
        return result
    result.encoding, result.delimiter = text.encoding, delimiter
    result.column_map = {c: tuple(header.names[i].strip() for i in idx) for c, idx in header.columns.items()}
    result.headers = tuple(n.strip() for n in header.names)

    width, named = len(header.names), header.named_width
    cursor = _Cursor(lines, delimiter, header.data_start)
    while (rec := cursor.next_record()) is not None:
        start, end, fields, error = rec
        line_no = start + 1
        if fields is None:
            result.rejected_rows.append((line_no, error or "csv_error", _raw(text, start, start + 1)))
            continue
        if _is_blank(fields):
            continue
        if any(i in text.undecodable for i in range(start, end)):
            reason = "undecodable: bytes that are not UTF-8"
            result.rejected_rows.append((line_no, reason, _raw(text, start, end)))
            continue
        n = len(fields)
        if n < named or (n > width and not _is_blank(fields[width:])):
            reason = f"field_count: expected {width} fields, got {n}"
            if end - start > 1:  # probably a stray quote: keep the lines it swallowed
                cursor.restart(start + 1)
                end = start + 1
            result.rejected_rows.append((line_no, reason, _raw(text, start, end)))
            continue
        record, sales_url, reason = _row_record(fields, header)
        if record is None:
            result.rejected_rows.append((line_no, reason, _raw(text, start, end)))
            continue
        result.records.append((line_no, record))
        if sales_url is not None:
            result.alternate_urls[line_no] = sales_url
    return result


def _raw(text: _Text, start: int, end: int) -> str:
    parts = [text.undecodable.get(i, text.lines[i]) for i in range(start, end)]
    return "".join(parts).rstrip("\r\n")
