"""CSV lead-export import: header variants, encodings, CSV quirks, rejects, random input."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lead_assets.core.normalise import normalise_leads
from lead_assets.core.sales_navigator_csv import (
    HEADER_INDEX,
    MAX_RECORD_LINES,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    ImportResult,
    match_key_name_domain,
    normalise_person_name,
    parse_export,
    sales_navigator_lead_id,
    split_location,
)
from lead_assets.core.titles import TargetRole, TitleMatcher
from lead_assets.core.vendor_records import MAPPED_FIELDS

JANE_URL = "https://www.linkedin.com/in/jane-doe"
SALES_URL = "https://www.linkedin.com/sales/lead/ACwAAAA1b2C3dE4,NAME_SEARCH,Xy9z?_ntb=abc"
SALES_ID = "ACwAAAA1b2C3dE4"


def _csv(*rows: str, newline: str = "\n") -> bytes:
    return newline.join(rows).encode("utf-8") + newline.encode()


def _only(result: ImportResult) -> dict:
    assert result.file_error is None, result.file_error
    assert result.rejected_rows == []
    assert len(result.records) == 1
    return result.records[0][1]


def _lines(result: ImportResult) -> tuple[list[int], list[int]]:
    return [n for n, _ in result.records], [n for n, _, _ in result.rejected_rows]


# --------------------------------------------------------------------------- headers


def test_header_spellings_are_unique_and_cover_the_brief():
    assert HEADER_INDEX["firstname"] == ("first_name", 0)
    for key, canonical in {
        "name": "full_name",
        "fullname": "full_name",
        "jobtitle": "job_title",
        "currenttitle": "job_title",
        "position": "job_title",
        "accountname": "company_name",
        "currentcompany": "company_name",
        "personlinkedinurl": "linkedin_url",
        "salesnavigatorurl": "linkedin_url",
        "leadurl": "linkedin_url",
        "profileurl": "linkedin_url",
        "workemail": "email",
        "stateprovince": "location_state",
        "region": "location_state",
        "geography": "location",
        "headcount": "company_size",
        "employees": "company_size",
    }.items():
        assert HEADER_INDEX[key][0] == canonical


OPTIONAL_CASES = [
    (canonical, spelling)
    for canonical, spellings in OPTIONAL_COLUMNS.items()
    if canonical != "location"
    for spelling in spellings
]


@pytest.mark.parametrize(("canonical", "spelling"), OPTIONAL_CASES)
def test_every_optional_spelling_maps_to_its_field(canonical, spelling):
    value = "https://acme.com" if "website" in canonical or "url" in canonical else "51-200"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        [["Name", "Email", spelling], ["Jane Doe", "jane@acme.com", value]]
    )
    record = _only(parse_export(out.getvalue().encode(), "x.csv"))
    assert record[canonical] == value


@pytest.mark.parametrize("spelling", REQUIRED_COLUMNS["linkedin_url"])
def test_every_linkedin_spelling_is_an_identifier(spelling):
    record = _only(parse_export(_csv(f"Full Name,{spelling}", f"Jane Doe,{JANE_URL}"), "x.csv"))
    assert record["linkedin_url"] == JANE_URL
    assert record["vendor_person_id"] == "jane-doe"


@pytest.mark.parametrize("spelling", REQUIRED_COLUMNS["email"])
def test_every_email_spelling_is_an_identifier(spelling):
    record = _only(parse_export(_csv(f"Name,{spelling}", "Jane Doe,jane@acme.com"), "x.csv"))
    assert record["email"] == "jane@acme.com"


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("First Name,Last Name,Email", "Jane,Doe,jane@acme.com"),
        ("first_name,last_name,email", "Jane,Doe,jane@acme.com"),
        ("FirstName,LastName,EMAIL", "Jane,Doe,jane@acme.com"),
        ("  FIRST-NAME , Last_Name ,E-Mail", "Jane,Doe,jane@acme.com"),
        ("Given Name,Surname,Email Address", "Jane,Doe,jane@acme.com"),
        ('"First Name","Last Name","Work Email"', '"Jane","Doe","jane@acme.com"'),
        ("Email,Last Name,First Name", "jane@acme.com,Doe,Jane"),  # column order is free
        ("Full Name,Email", "Jane Doe,jane@acme.com"),
    ],
)
def test_name_header_variants(header, row):
    record = _only(parse_export(_csv(header, row), "x.csv"))
    assert record["full_name"] == "Jane Doe"
    assert record["email"] == "jane@acme.com"
    if "First" in header or "Given" in header:
        assert (record["first_name"], record["last_name"]) == ("Jane", "Doe")


def test_record_shape_and_all_fields():
    data = _csv(
        "Name,First Name,Last Name,Title,Company,LinkedIn URL,Email,Phone,City,State,Country,"
        "Website,Industry,Company Size,Email Status,Photo URL,Notes",
        'Jane Doe,Jane,Doe,Head of Paid Media,"Acme, Inc.",https://linkedin.com/in/Jane-Doe/,'
        "jane@acme.com,+1 512 555 0100,Austin,TX,United States,https://www.acme.com,Marketing,51-200,"
        "verified,https://img.example/jane.jpg,ignored",
    )
    result = parse_export(data, "x.csv")
    line, record = result.records[0]
    assert line == 2
    assert tuple(record) == MAPPED_FIELDS
    assert record == {
        "vendor_person_id": "jane-doe",
        "full_name": "Jane Doe",
        "first_name": "Jane",
        "last_name": "Doe",
        "linkedin_url": JANE_URL,
        "job_title": "Head of Paid Media",
        "company_name": "Acme, Inc.",
        "location_city": "Austin",
        "location_state": "TX",
        "location_country": "United States",
        "email": "jane@acme.com",
        "email_status": "verified",
        "phone": "+1 512 555 0100",
        "company_website": "https://www.acme.com",
        "company_industry": "Marketing",
        "company_size": "51-200",
        "profile_picture_url": "https://img.example/jane.jpg",
    }
    assert result.column_map["company_name"] == ("Company",)
    assert "Notes" not in str(result.column_map)
    assert (result.encoding, result.delimiter) == ("utf-8", ",")


def test_records_normalise_like_vendor_records():
    data = _csv(
        "Name,Title,Company,Location,LinkedIn URL,Email,Company Size",
        'Jane Doe,PPC Manager,Acme,"Austin, Texas, United States",https://www.linkedin.com/in/Jane-Doe,'
        "Jane@Acme.com,51-200",
    )
    result = parse_export(data, "x.csv")
    df = pd.DataFrame([r for _, r in result.records])
    out = normalise_leads(df, TitleMatcher([TargetRole("PPC Manager", ("ppc manager",))]))
    row = out.iloc[0]
    assert (row["location_city"], row["location_state"], row["location_country"]) == ("Austin", "TX", "US")
    assert row["email"] == "jane@acme.com"
    assert row["company_size"] == 51
    assert row["validation_errors"] == ""
    assert row["vendor_person_id"] == "jane-doe"


def test_two_columns_for_one_field_take_the_first_non_empty_by_priority():
    data = _csv("Work Email,Name,Email", "work@acme.com,Jane Doe,", "work2@acme.com,John Roe,john@acme.com")
    result = parse_export(data, "x.csv")
    assert [r["email"] for _, r in result.records] == ["work@acme.com", "john@acme.com"]
    assert result.column_map["email"] == ("Email", "Work Email")


def test_location_column_is_split_only_when_the_row_has_no_separate_location():
    data = _csv(
        "Name,Email,City,State,Location",
        'Jane Doe,jane@acme.com,,,"Austin, Texas, United States"',
        'John Roe,john@acme.com,Denver,CO,"Austin, Texas, United States"',
        'Ann Lee,ann@acme.com,,,"Greater Seattle Area"',
    )
    records = [r for _, r in parse_export(data, "x.csv").records]
    assert [(r["location_city"], r["location_state"], r["location_country"]) for r in records] == [
        ("Austin", "Texas", "United States"),
        ("Denver", "CO", None),
        ("Greater Seattle Area", None, None),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Austin, Texas, United States", ("Austin", "Texas", "United States")),
        ("Austin, Texas", ("Austin", "Texas", None)),
        ("Austin, Texas Metropolitan Area", ("Austin", "Texas", None)),
        ("Texas, United States", (None, "Texas", "United States")),
        ("London, United Kingdom", ("London", None, "United Kingdom")),
        ("United States", (None, None, "United States")),
        ("California", (None, "California", None)),
        ("Germany", (None, None, "Germany")),
        ("San Francisco Bay Area", ("San Francisco Bay Area", None, None)),
        ("Soho, London, England, United Kingdom", ("Soho", "England", "United Kingdom")),
        (" , ,", (None, None, None)),
        (None, (None, None, None)),
    ],
)
def test_split_location(text, expected):
    assert split_location(text) == expected


def test_duplicate_header_is_a_file_error():
    result = parse_export(_csv("Name,Email,email", "Jane Doe,a@acme.com,b@acme.com"), "x.csv")
    assert result.file_error is not None and "duplicate column" in result.file_error
    assert result.records == [] and result.rejected_rows == [] and result.alternate_urls == {}
    # A spelling variant of the same header is a duplicate too.
    assert "duplicate" in (
        parse_export(_csv("First Name,first_name,Last Name,Email"), "x.csv").file_error or ""
    )


def test_duplicated_unknown_columns_and_unnamed_columns_are_ignored():
    data = _csv("Name,Notes,Email,Notes,,", "Jane Doe,a,jane@acme.com,b,,", "John Roe,a,john@acme.com,b")
    result = parse_export(data, "x.csv")
    assert result.file_error is None
    assert _lines(result) == ([2, 3], [])


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ("Title,Company,Email", "no name column"),
        ("First Name,Company,Email", "no name column"),  # first name alone is not a name column
        ("Name,Title,Company", "no identifier column"),
        ("Name;Title;Company", "no identifier column"),
        ("foo,bar,baz", "no name column"),
        ('{"name": "Jane Doe", "email": "jane@acme.com"}', "header rejected"),
        ("<html><body>Name,Email</body></html>", "header rejected"),
    ],
)
def test_wrong_header_rejects_the_whole_file(header, needle):
    data = _csv(header, "Jane Doe,jane@acme.com,Acme", "John Roe,john@acme.com,Beta")
    result = parse_export(data, "leads.csv")
    assert result.file_error is not None and needle in result.file_error
    assert result.records == [] and result.rejected_rows == [] and result.alternate_urls == {}


def test_header_without_rows_imports_nothing_without_error():
    result = parse_export(_csv("Name,Email"), "x.csv")
    assert result.file_error is None and result.records == [] and result.rejected_rows == []


# --------------------------------------------------------------------------- encodings


def test_utf8_bom_is_stripped_from_the_first_header():
    data = "\ufeffName,Email\nJosé Núñez,jose@acme.com\n".encode()
    result = parse_export(data, "x.csv")
    assert _only(result)["full_name"] == "José Núñez"
    assert result.encoding == "utf-8-sig"


def test_bom_inside_a_quoted_first_header():
    data = '\ufeff"Name","Email"\r\n"Jane Doe","jane@acme.com"\r\n'.encode()
    assert _only(parse_export(data, "x.csv"))["full_name"] == "Jane Doe"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom(codec):
    text = "Name\tEmail\tTitle\r\nJosé Núñez\tjose@acme.com\tDirector 🚀\r\n"
    data = text.encode(codec) if codec == "utf-16" else "\ufeff".encode(codec) + text.encode(codec)
    result = parse_export(data, "x.csv")
    record = _only(result)
    assert (record["full_name"], record["job_title"]) == ("José Núñez", "Director 🚀")
    assert (result.encoding, result.delimiter) == ("utf-16", "\t")


def test_utf16_without_bom_is_reported_not_misread():
    result = parse_export("Name,Email\nJane Doe,jane@acme.com\n".encode("utf-16-le"), "x.csv")
    assert result.file_error is not None and "NUL" in result.file_error
    assert result.records == []


def test_cp1252_fallback_when_utf8_fails_and_cp1252_is_clean():
    data = "Name;Email;Company\nJosé Müller;jose@acme.com;Café “Crème” GmbH\n".encode("cp1252")
    result = parse_export(data, "x.csv")
    record = _only(result)
    assert (record["full_name"], record["company_name"]) == ("José Müller", "Café “Crème” GmbH")
    assert (result.encoding, result.delimiter) == ("cp1252", ";")


def test_mostly_utf8_file_rejects_only_its_undecodable_rows():
    data = (
        "Name,Email\nJosé Núñez,jose@acme.com\n".encode()
        + "Zoë Smith,zoe@acme.com\n".encode("cp1252")
        + b"Ann Lee,ann@acme.com\n"
    )
    result = parse_export(data, "x.csv")
    assert result.encoding == "utf-8"
    assert _lines(result) == ([2, 4], [3])
    assert result.records[0][1]["full_name"] == "José Núñez"  # not mojibake
    line, reason, raw = result.rejected_rows[0]
    assert reason.startswith("undecodable") and raw == "Zo\\xeb Smith,zoe@acme.com"


def test_bytes_that_are_neither_utf8_nor_cp1252():
    # 0x81 is undefined in Windows-1252: the header decodes, the row is rejected.
    result = parse_export(b"Name,Email\nJ\x81ne Doe,jane@acme.com\nAnn Lee,ann@acme.com\n", "x.csv")
    assert _lines(result) == ([3], [2])
    mostly_bad = parse_export(b"Name,Email\nJ\x81ne,a@b.co\nJ\x81ne,a@b.co\nJ\x81ne,a@b.co\n", "x.csv")
    assert mostly_bad.file_error is not None and mostly_bad.records == [] and mostly_bad.rejected_rows == []


@pytest.mark.parametrize(
    "data",
    [b"", b"   \r\n\n\t\n", b"\xef\xbb\xbf", b"\xff\xfe", b"\xef\xbb\xbf\r\n,,,\r\n"],
)
def test_empty_files(data):
    result = parse_export(data, "x.csv")
    assert result.file_error is not None and "empty" in result.file_error
    assert result.records == [] and result.rejected_rows == []


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + bytes(range(256)), "xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), ".xls"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (bytes(range(32)) * 20, "binary"),
        (b"Name,Email\n" + b"\x01\x02\x03\x04" * 10 + b"\n", "binary"),
        (b"\xff\xfeN\x00a\x00\x00\xd8", "UTF-16"),  # lone surrogate
    ],
)
def test_binary_and_non_csv_files(data, needle):
    result = parse_export(data, "leads.xlsx")
    assert result.file_error is not None and needle in result.file_error
    assert result.records == [] and result.rejected_rows == [] and result.alternate_urls == {}


def test_file_size_limit():
    result = parse_export(_csv("Name,Email", "Jane Doe,jane@acme.com"), "x.csv", max_bytes=10)
    assert result.file_error is not None and "too large" in result.file_error


# --------------------------------------------------------------------------- CSV quirks


def test_quoted_commas_and_newlines_keep_physical_start_lines():
    data = _csv(
        "Name,Title,Email,Notes",
        'Jane Doe,"VP, Growth",jane@acme.com,"line one',
        "line two",
        'line three"',
        "",
        '"Roe, John","Head of\r\nPaid Media",john@acme.com,',
        "Ann Lee,CMO,ann@acme.com,",
        newline="\r\n",
    )
    result = parse_export(data, "x.csv")
    assert _lines(result) == ([2, 6, 8], [])
    records = dict(result.records)
    assert records[2]["job_title"] == "VP, Growth"
    assert records[6]["full_name"] == "Roe, John"
    assert records[6]["job_title"] == "Head of\r\nPaid Media"


def test_old_mac_line_endings():
    result = parse_export(b"Name,Email\rJane Doe,jane@acme.com\rAnn Lee,ann@acme.com\r", "x.csv")
    assert _lines(result) == ([2, 3], [])


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_sniffing(delimiter):
    rows = [
        ["Name", "Title", "Company", "Email"],
        ["Jane Doe", "VP, Growth; EMEA", "Acme\tInc", "jane@acme.com"],
    ]
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    result = parse_export(out.getvalue().encode(), "x.csv")
    assert result.delimiter == delimiter
    record = _only(result)
    assert (record["job_title"], record["company_name"]) == ("VP, Growth; EMEA", "Acme\tInc")


def test_excel_sep_line_forces_the_delimiter_and_counts_as_a_line():
    result = parse_export(b"sep=;\nName;Email\nJane Doe;jane@acme.com\n", "x.csv")
    assert result.delimiter == ";"
    assert _lines(result) == ([3], [])


def test_blank_lines_and_blank_records_are_skipped():
    data = _csv(
        "", "   ", "Name,Email", "", "Jane Doe,jane@acme.com", ",", "  ,  ", "", "Ann Lee,ann@acme.com"
    )
    result = parse_export(data, "x.csv")
    assert _lines(result) == ([5, 9], [])


def test_trailing_empty_fields_are_tolerated_other_counts_rejected():
    data = _csv(
        "Name,Email,Title",
        "Jane Doe,jane@acme.com,CEO,,",
        "John Roe,john@acme.com",
        "Ann Lee,ann@acme.com,CMO,extra",
        "Bo Chen,bo@acme.com,CTO",
    )
    result = parse_export(data, "x.csv")
    assert _lines(result) == ([2, 5], [3, 4])
    assert all(r.startswith("field_count") for _, r, _ in result.rejected_rows)
    assert result.rejected_rows[0] == (3, "field_count: expected 3 fields, got 2", "John Roe,john@acme.com")


def test_malformed_rows_are_rejected_with_line_numbers_and_the_rest_imported():
    data = _csv(
        "Name,LinkedIn URL,Email",
        f"Jane Doe,{JANE_URL},",
        ",https://www.linkedin.com/in/nobody,x@acme.com",  # no name
        "12345,https://www.linkedin.com/in/digits,",  # a name needs a letter
        "John Roe,,not-an-email",  # no identifier
        "Ann Lee,https://example.com/ann,",  # not a LinkedIn URL, no email
        "Bo Chen,too,many,fields",
        "Cy Twombly,,cy@acme.com",
    )
    result = parse_export(data, "x.csv")
    assert _lines(result) == ([2, 8], [3, 4, 5, 6, 7])
    reasons = {n: r.split(":")[0] for n, r, _ in result.rejected_rows}
    assert reasons == {3: "no_name", 4: "no_name", 5: "no_identifier", 6: "no_identifier", 7: "field_count"}
    raws = {n: raw for n, _, raw in result.rejected_rows}
    assert raws[5] == "John Roe,,not-an-email"


def test_stray_quote_rejects_one_line_and_keeps_the_lines_it_swallowed():
    data = _csv(
        "Name,Email,Title",
        '"Jane Doe,jane@acme.com,CEO',
        "John Roe,john@acme.com,CTO",
        'Ann Lee,ann@acme.com,"VP, Sales"',
        "Bo Chen,bo@acme.com,CFO",
    )
    result = parse_export(data, "x.csv")
    assert _lines(result) == ([3, 4, 5], [2])
    assert result.rejected_rows[0][2] == '"Jane Doe,jane@acme.com,CEO'


def test_unterminated_quote_at_end_of_file():
    data = _csv("Name,Email,Title", "Jane Doe,jane@acme.com,CEO", 'John Roe,john@acme.com,"CTO')
    result = parse_export(data, "x.csv")
    assert _lines(result) == ([2], [3])
    assert result.rejected_rows[0][1].startswith("unterminated_quote")


def test_a_quote_open_for_too_many_lines_is_unterminated():
    rows = ["Jane Doe,jane@acme.com,x" for _ in range(MAX_RECORD_LINES + 5)]
    data = _csv("Name,Email,Title", 'John Roe,john@acme.com,"never closed', *rows)
    result = parse_export(data, "x.csv")
    assert result.rejected_rows[0][:2] == (2, "unterminated_quote: a quoted field is never closed")
    assert _lines(result)[0] == list(range(3, MAX_RECORD_LINES + 8))


def test_oversized_field_is_rejected_not_raised():
    data = _csv("Name,Email,Notes", f"Jane Doe,jane@acme.com,{'x' * 200_000}", "Ann Lee,ann@acme.com,ok")
    result = parse_export(data, "x.csv")
    assert _lines(result) == ([3], [2])
    assert result.rejected_rows[0][1].startswith("csv_error")


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://evil.example","click")',
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)",
        "-2+3",
        "Robert'); DROP TABLE leads;--",
        "<script>alert('x')</script>",
        '<img src=x onerror="alert(1)">',
        "{{7*7}} ${jndi:ldap://x}",
        "😀 Ünïcödé \u200b zero-width",
    ],
)
def test_hostile_strings_are_kept_verbatim(value):
    out = io.StringIO()
    rows = [["Name", "Title", "Company", "Email"], ["Jane Doe", value, value, "jane@acme.com"]]
    csv.writer(out, lineterminator="\n").writerows(rows)
    record = _only(parse_export(out.getvalue().encode(), "x.csv"))
    assert record["job_title"] == value.strip()
    assert record["company_name"] == value.strip()


# --------------------------------------------------------------------------- identifiers


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (SALES_URL, SALES_ID),
        ("https://www.linkedin.com/sales/people/ACoAAB-x_9,name,abc", "ACoAAB-x_9"),
        ("https://www.linkedin.com/sales/lead/ACwAAAA1b2C3dE4%2CNAME_SEARCH%2CXy9z", SALES_ID),
        ("linkedin.com/sales/lead/ACwAAAA1b2C3dE4", SALES_ID),
        ("http://linkedin.com/sales/lead/ACwAAAA1b2C3dE4/", SALES_ID),
        ("  https://WWW.LINKEDIN.COM/sales/lead/ACwAAAA1b2C3dE4,x  ", SALES_ID),
        (JANE_URL, None),
        ("https://www.linkedin.com/sales/search/people?query=x", None),
        ("https://www.linkedin.com/sales/lead/", None),
        ("https://evil-linkedin.com/sales/lead/ACwAAAA1b2C3dE4,x", None),
        ("https://linkedin.com.evil.example/sales/lead/ACwAAAA1b2C3dE4,x", None),
        ("https://www.linkedin.com/sales/lead/AC<script>,x", None),
        ("", None),
        (None, None),
        (123, None),
    ],
)
def test_sales_navigator_lead_id(url, expected):
    assert sales_navigator_lead_id(url) == expected


def test_sales_navigator_urls_are_kept_as_alternates_with_the_lead_id():
    data = _csv(
        "Name,Company,Website,LinkedIn URL,Sales Navigator URL,Email",
        f'Jane Doe,Acme,acme.com,,"{SALES_URL}",',
        f"John Roe,Acme,acme.com,{JANE_URL.replace('jane-doe', 'john-roe')},"
        '"https://www.linkedin.com/sales/lead/ACwJOHN,NAME_SEARCH,1",',
        f'Ann Lee,Acme,acme.com,"{SALES_URL.replace(SALES_ID, "ACwANN")}",,ann@acme.com',
        "Bo Chen,Acme,acme.com,https://www.linkedin.com/company/acme,,",
    )
    result = parse_export(data, "x.csv")
    records = dict(result.records)
    assert sorted(records) == [2, 3, 4]
    assert result.alternate_urls == {2: SALES_URL, 4: SALES_URL.replace(SALES_ID, "ACwANN")}
    assert (records[2]["vendor_person_id"], records[2]["linkedin_url"]) == (SALES_ID, None)
    # A public URL wins for linkedin_url; the lead id still is the vendor id; no alternate.
    assert (records[3]["vendor_person_id"], records[3]["linkedin_url"]) == (
        "ACwJOHN",
        "https://www.linkedin.com/in/john-roe",
    )
    assert (records[4]["vendor_person_id"], records[4]["linkedin_url"]) == ("ACwANN", None)
    assert result.rejected_rows[0][0] == 5 and result.rejected_rows[0][1].startswith("no_identifier")
    assert (
        match_key_name_domain(records[2]["full_name"], records[2]["company_website"]) == "jane doe|acme.com"
    )


def test_unparsable_linkedin_text_is_kept_when_the_email_identifies_the_row():
    record = _only(parse_export(_csv("Name,LinkedIn URL,Email", "Jane Doe,n/a,jane@acme.com"), "x.csv"))
    assert record["linkedin_url"] == "n/a"  # normalise reports it as linkedin_url:invalid


def test_vendor_person_id_falls_back_to_a_stable_hash_of_name_and_email():
    data = _csv(
        "Name,Email", "Jane Doe,jane@acme.com", "  JANE   DOE ,Jane@ACME.com ", "Jane Doe,other@acme.com"
    )
    ids = [r["vendor_person_id"] for _, r in parse_export(data, "x.csv").records]
    assert ids[0] == hashlib.sha1(b"jane doe|jane@acme.com").hexdigest()
    assert ids[1] == ids[0] and ids[2] != ids[0]


@pytest.mark.parametrize(
    ("name", "site", "expected"),
    [
        ("Jane Doe", "acme.com", "jane doe|acme.com"),
        ("  JANE   Doe ", "https://www.Acme.com:443/about?x=1", "jane doe|acme.com"),
        ("José Núñez-García (He/Him)", "http://sub.acme.co.uk", "jose nunezgarcia|sub.acme.co.uk"),
        ("Dr. Mary O'Brien, PhD 🚀", "acme.com/", "dr mary obrien phd|acme.com"),
        ("Straße", "acme.de", "strasse|acme.de"),
        ("Jane Doe", "https://www.linkedin.com/company/acme", None),
        ("Jane Doe", "not a domain", None),
        ("Jane Doe", None, None),
        ("(She/Her)", "acme.com", None),
        ("", "acme.com", None),
        (None, "acme.com", None),
    ],
)
def test_match_key_name_domain(name, site, expected):
    assert match_key_name_domain(name, site) == expected


def test_normalise_person_name_is_idempotent():
    for name in ("José Núñez-García", "Ångström, Ærø", "李 小龍", "Jean-Luc Picard"):
        once = normalise_person_name(name)
        assert once is not None and normalise_person_name(once) == once


# --------------------------------------------------------------------------- properties


def _check_invariants(result: ImportResult, data: bytes) -> None:
    if result.file_error is not None:
        assert result.records == [] and result.rejected_rows == [] and result.alternate_urls == {}
        return
    imported, rejected = _lines(result)
    n_lines = len(io.StringIO(data.decode(result.encoding or "utf-8", "replace"), newline="").readlines())
    assert len(set(imported)) == len(imported) and len(set(rejected)) == len(rejected)
    assert not set(imported) & set(rejected)
    assert all(1 < n <= n_lines for n in imported + rejected)
    assert set(result.alternate_urls) <= set(imported)
    for _, record in result.records:
        assert tuple(record) == MAPPED_FIELDS and record["vendor_person_id"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data):
    _check_invariants(parse_export(data, "x.csv"), data)


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=200),
    st.sampled_from(
        [b"Name,Email\n", b"\xef\xbb\xbfName;LinkedIn URL\r\n", b"First Name\tLast Name\tEmail\n"]
    ),
)
def test_arbitrary_bytes_after_a_valid_header_never_raise(tail, header):
    data = header + tail
    _check_invariants(parse_export(data, "x.csv"), data)


_cell = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc")),
        st.sampled_from([",", '"', "\n", "\r", " ", ";", "\t", "@", "/"]),
    ),
    max_size=12,
)
# Junk lines: no quotes (a stray quote may legitimately merge rows) and no line breaks.
_junk = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"'), st.just(",")
    ),
    max_size=30,
)
_identity = st.sampled_from(["jane@acme.com", JANE_URL, SALES_URL, "", "nope"])
_row = st.one_of(
    st.tuples(st.just("csv"), st.tuples(_cell, _cell, _identity)),
    st.tuples(st.just("csv"), st.tuples(st.sampled_from(["Jane Doe", "Zoë", ""]), _cell, _identity)),
    st.tuples(st.just("junk"), _junk),
    st.tuples(st.just("blank"), st.sampled_from(["", "   ", ",,", " , , "])),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_row, max_size=12), st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_every_non_blank_row_is_imported_or_rejected_exactly_once(rows, encoding):
    out = io.StringIO()
    out.write("Name,Title,LinkedIn URL\n")
    expected: list[int] = []
    line = 2
    for kind, payload in rows:
        if kind == "csv":
            buf = io.StringIO()
            # With "\r\n" as terminator the writer quotes fields holding either character.
            csv.writer(buf, lineterminator="\r\n").writerow(payload)
            text = buf.getvalue()
            blank = all(not f.strip() for f in payload)
        else:
            text = payload + "\n"
            blank = all(not f.strip() for f in payload.split(","))
        if not blank:
            expected.append(line)
        line += len(io.StringIO(text, newline="").readlines())
        out.write(text)
    data = out.getvalue().encode(encoding)
    result = parse_export(data, "x.csv")
    assert result.file_error is None
    imported, rejected = _lines(result)
    assert sorted(imported + rejected) == expected
    _check_invariants(result, data)


def test_the_doc_page_lists_every_accepted_header():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "sales_navigator_import.md").read_text()
    for spellings in (*REQUIRED_COLUMNS.values(), *OPTIONAL_COLUMNS.values()):
        for spelling in spellings:
            assert spelling in doc, spelling
