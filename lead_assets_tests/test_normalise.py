"""Field normalisers: tables of tricky vendor values, and properties over random input."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lead_assets.config.settings import sprint_config
from lead_assets.core.normalise import (
    LEAD_INPUT_COLUMNS,
    _parse_website_domain,
    _plain_two_words,
    _validate_email_text,
    canonical_linkedin_url,
    canonical_linkedin_urls,
    clean_text,
    company_sizes,
    normalise_company_size,
    normalise_country,
    normalise_email,
    normalise_emails,
    normalise_leads,
    normalise_phone,
    normalise_phones,
    split_name,
    split_names,
    us_state_code,
    us_state_codes,
    website_domain,
)
from lead_assets.core.titles import TitleMatcher

JANE = "https://www.linkedin.com/in/jane-doe-123"
JOSE = "https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa"


@pytest.fixture(scope="module")
def matcher() -> TitleMatcher:
    return TitleMatcher.from_config(sprint_config())


# --------------------------------------------------------------------------- LinkedIn


@pytest.mark.parametrize(
    "raw",
    [
        "https://www.linkedin.com/in/jane-doe-123",
        "https://www.linkedin.com/in/jane-doe-123/",
        "HTTP://UK.LinkedIn.com/in/Jane-Doe-123/?trk=x#y",
        "linkedin.com/in/jane-doe-123",
        "www.linkedin.com/in/jane-doe-123",
        "//linkedin.com/in/jane-doe-123",
        "https://m.linkedin.com/in/jane%2Ddoe%2D123/",
        "https://de.linkedin.com/in/JANE-DOE-123?originalSubdomain=de",
        "https://www.linkedin.com/in/jane-doe-123/details/experience/",
        "https://www.linkedin.com/IN/jane-doe-123",
        "https://www.linkedin.com:443/in/jane-doe-123",
        "  https://www.linkedin.com/in/jane-doe-123  \n",
        "https://www.linkedin.com/in/jane-\x00doe-123\x00",
        "https://www.linkedin.com/in/jane-doe-123#experience",
    ],
)
def test_linkedin_variants_share_one_key(raw):
    assert canonical_linkedin_url(raw) == JANE


@pytest.mark.parametrize(
    "raw",
    [
        "https://www.linkedin.com/in/josé-garcía",
        "https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa/",
        "https://www.linkedin.com/in/JOS%C3%89-GARC%C3%8DA",  # upper-case É, Í
        "https://www.linkedin.com/in/jose\u0301-garci\u0301a",  # decomposed accents (NFD)
        "linkedin.com/in/Jos%c3%a9-Garc%c3%ada?trk=public",
    ],
)
def test_linkedin_unicode_slugs_share_one_ascii_key(raw):
    assert canonical_linkedin_url(raw) == JOSE
    assert JOSE.isascii()


@pytest.mark.parametrize(
    "raw",
    [
        "https://www.linkedin.com/sales/lead/ACwAAA1234,NAME_SEARCH,abcd",
        "https://www.linkedin.com/sales/people/ACwAAA1234,name",
        "https://www.linkedin.com/company/acme-inc/",
        "https://www.linkedin.com/pub/jane-doe/12/345/678",
        "https://www.linkedin.com/profile/view?id=12345",
        "https://www.linkedin.com/in/",
        "https://www.linkedin.com/in/---",
        "https://www.linkedin.com/in/jane doe",
        "https://www.linkedin.com/in/jane%20doe",
        "https://www.linkedin.com/in/jane%2Fdoe",
        "https://evil-linkedin.com/in/jane-doe",
        "https://linkedin.com.evil.com/in/jane-doe",
        "https://lnkd.in/abc",
        "https://www.linkedin.com",
        "jane-doe-123",
        "not a url",
        "https://www.linkedin.com/in/" + "a" * 101,
        "",
        "   ",
        "\x00",
        None,
        float("nan"),
        pd.NA,
        123,
        ["https://www.linkedin.com/in/jane-doe-123"],
    ],
)
def test_linkedin_non_profiles_are_none(raw):
    assert canonical_linkedin_url(raw) is None


def test_linkedin_vectorised_matches_scalar_on_table():
    raw = pd.Series(
        ["HTTP://UK.LinkedIn.com/in/Jane-Doe-123/?trk=x#y", None, float("nan"), "junk", JOSE, JANE],
        index=[10, 11, 12, 13, 14, 15],
    )
    out = canonical_linkedin_urls(raw)
    assert list(out.index) == [10, 11, 12, 13, 14, 15]
    assert out.tolist() == [JANE, None, None, None, JOSE, JANE]


_slug_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(string.ascii_letters + string.digits + "-_.~%/?#é í"),
        st.characters(codec="utf-8"),
    ),
    max_size=30,
)
_linkedin_like = st.builds(
    lambda scheme, host, slug, tail: f"{scheme}{host}/in/{slug}{tail}",
    st.sampled_from(["", "http://", "https://", "HTTPS://", "//", "ftp://"]),
    st.sampled_from(["linkedin.com", "www.linkedin.com", "uk.linkedin.com", "m.LinkedIn.com", "lnkd.in"]),
    _slug_text,
    st.sampled_from(["", "/", "?trk=x", "#y", "/details/experience", "%2F"]),
)
_any_value = st.one_of(st.none(), st.just(float("nan")), st.integers(), st.text(max_size=60), _linkedin_like)


@given(_any_value)
@settings(max_examples=300, deadline=None)
def test_linkedin_canonical_is_idempotent_and_ascii(value):
    key = canonical_linkedin_url(value)
    if key is not None:
        assert key.isascii()
        assert key.startswith("https://www.linkedin.com/in/")
        assert canonical_linkedin_url(key) == key


@given(st.lists(_any_value, max_size=20))
@settings(max_examples=100, deadline=None)
def test_linkedin_scalar_equals_vectorised(values):
    s = pd.Series(values, dtype=object)
    assert canonical_linkedin_urls(s).tolist() == [canonical_linkedin_url(v) for v in values]


# --------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane.doe@acme.com", ("jane.doe@acme.com", "unverified")),
        ("  Jane.Doe@ACME.com \n", ("jane.doe@acme.com", "unverified")),
        ("jane+leads@sub.acme.co.uk", ("jane+leads@sub.acme.co.uk", "unverified")),
        ("o'brien@acme.com", ("o'brien@acme.com", "unverified")),  # validator path, not the fast path
        ("jane@xn--bcher-kva.com", ("jane@bücher.com", "unverified")),
        ("email_not_unlocked@domain.com", (None, "missing")),
        ("EMAIL_NOT_UNLOCKED@domain.com", (None, "missing")),
        ("email_not_unlocked@acme.io", (None, "missing")),
        ("jane@", (None, "invalid")),
        ("jane@@acme.com", (None, "invalid")),
        ("jane doe@acme.com", (None, "invalid")),
        ("jane..doe@acme.com", (None, "invalid")),
        ("jane@localhost", (None, "invalid")),
        ("jane@acme.test", (None, "invalid")),
        ("jane@acme.c0m1", (None, "invalid")),
        ('=HYPERLINK("x")@acme.com', (None, "invalid")),
        ("a" * 250 + "@acme.com", (None, "invalid")),
        (12345, (None, "invalid")),
        ("", (None, "missing")),
        ("  ", (None, "missing")),
        (None, (None, "missing")),
        (float("nan"), (None, "missing")),
        (pd.NA, (None, "missing")),
    ],
)
def test_normalise_email_table(raw, expected):
    assert normalise_email(raw) == expected


def test_normalise_emails_with_vendor_status():
    emails = pd.Series(
        [
            "a@acme.com",
            "B@acme.com",
            "c@acme.com",
            "d@acme.com",
            "bad@",
            "email_not_unlocked@domain.com",
            None,
        ],
        index=list("abcdefg"),
    )
    vendor = pd.Series(
        ["verified", " Verified ", "unverified", "unavailable", "verified", "verified", "verified"]
    )
    vendor.index = emails.index
    out = normalise_emails(emails, vendor)
    assert list(out.columns) == ["email", "email_status"]
    assert list(out.index) == list("abcdefg")
    assert out["email"].tolist() == ["a@acme.com", "b@acme.com", "c@acme.com", "d@acme.com", None, None, None]
    assert out["email_status"].tolist() == [
        "verified",
        "verified",
        "unverified",
        "unverified",
        "invalid",
        "missing",
        "missing",
    ]
    no_vendor = normalise_emails(emails)
    assert no_vendor["email_status"].tolist()[:4] == ["unverified"] * 4


@given(
    st.from_regex(
        r"[a-z0-9_+\-]{1,8}(\.[a-z0-9_+\-]{1,4}){0,2}@([a-z0-9\-]{1,8}\.){1,3}(test|local|[a-z]{2,5})",
        fullmatch=True,
    )
)
@settings(max_examples=300, deadline=None)
def test_email_fast_path_agrees_with_validator(s):
    """Near-valid ASCII addresses: the regex shortcut gives exactly the validator's answer."""
    try:
        expected = (validate_email(s, check_deliverability=False).normalized.lower(), "unverified")
    except EmailNotValidError:
        expected = (None, "invalid")
    if s.startswith("email_not_unlocked@"):
        expected = (None, "missing")
    assert _validate_email_text(s) == expected


@given(st.one_of(st.text(alphabet="abcxyz019-.w:/@ _", max_size=24), st.from_regex(
    r"(https?://)?(www\.)?([a-z0-9\-]{1,8}\.){1,3}[a-z0-9\-]{1,6}(:443)?/?", fullmatch=True)))
@settings(max_examples=400, deadline=None)
def test_domain_fast_path_agrees_with_the_parser(s):
    """A bare lower-case host skips the parser only when the parser would return it unchanged."""
    assert website_domain(s) == _parse_website_domain(s)


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_normalise_email_is_idempotent(raw):
    email, status = normalise_email(raw)
    assert status in {"missing", "invalid", "unverified"}
    if email is not None:
        assert normalise_email(email) == (email, "unverified")


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((None, "Jane", "Doe"), ("Jane Doe", "Jane", "Doe")),
        ((None, " Jane ", None), ("Jane", "Jane", None)),
        (("Jane   Doe", None, None), ("Jane Doe", "Jane", "Doe")),
        (("Dr. Jane Q. Doe", None, None), ("Dr. Jane Q. Doe", "Jane", "Doe")),
        (("Doe, Jane", None, None), ("Doe, Jane", "Jane", "Doe")),
        (("Jane Doe", "Janet", None), ("Jane Doe", "Janet", "Doe")),
        (("Jane Doe", "J.", "D."), ("Jane Doe", "J.", "D.")),  # all given: kept as sent
        (("Ja\x00ne\tDoe", None, None), ("Jane Doe", "Jane", "Doe")),
        ((None, None, None), (None, None, None)),
        ((float("nan"), "", "  "), (None, None, None)),
    ],
)
def test_split_name_table(args, expected):
    assert split_name(*args) == expected


def test_plain_two_word_shortcut_agrees_with_nameparser():
    from faker import Faker
    from nameparser import HumanName

    fake = Faker("en_US")
    fake.seed_instance(7)
    names = ["Jane Doe", "Mary Major", "Jon Bishop", "Lee Ann", "JANE DOE", "Raj Patel"]
    names += [f"{fake.first_name()} {fake.last_name()}" for _ in range(300)]
    taken = 0
    for full in names:
        shortcut = _plain_two_words(full)
        if shortcut is not None:
            taken += 1
            parsed = HumanName(full)
            assert shortcut == (parsed.first, parsed.last), full
    assert taken > 250  # the shortcut does carry the common case


@pytest.mark.parametrize(
    "full", ["Dr Who", "Bishop Jon", "Jane Doe Jr", "Ann Mc", "Jane van Doe", "José Ruiz"]
)
def test_plain_two_word_shortcut_leaves_special_words_to_nameparser(full):
    assert _plain_two_words(full) is None


def test_split_names_vectorised_matches_scalar():
    full = pd.Series(["Jane Doe", None, "Dr. John Smith", "Ann Lee"], index=[5, 6, 7, 8])
    first = pd.Series([None, "Wei", None, "Ann"], index=full.index)
    last = pd.Series([None, "Chen", None, "Lee"], index=full.index)
    out = split_names(full, first, last)
    assert list(out.index) == [5, 6, 7, 8]
    expected = [split_name(a, b, c) for a, b, c in zip(full, first, last, strict=True)]
    assert [
        tuple(r) for r in out[["full_name", "first_name", "last_name"]].itertuples(index=False)
    ] == expected


# --------------------------------------------------------------------------- location


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("California", "CA"),
        ("california", "CA"),
        ("CA", "CA"),
        ("ca", "CA"),
        ("Calif.", "CA"),
        ("Calif", "CA"),
        (" New   York ", "NY"),
        ("N.Y.", "NY"),
        ("District of Columbia", "DC"),
        ("Washington, D.C.", "DC"),
        ("DC", "DC"),
        ("Washington", "WA"),
        ("Texass", "TX"),  # phonetic match through us.states.lookup
        ("Ontario", None),
        ("ON", None),
        ("Bavaria", None),
        ("Puerto Rico", None),  # a territory, not a state
        ("PR", None),
        ("06", None),  # a FIPS code is not a state name
        ("CA 94105", None),
        ("", None),
        (None, None),
        (float("nan"), None),
        (42, None),
    ],
)
def test_us_state_code_table(raw, code):
    assert us_state_code(raw) == code


def test_us_state_codes_vectorised():
    s = pd.Series(["Texas", "tx", None, "Quebec", "Texas"])
    assert us_state_codes(s).tolist() == ["TX", "TX", None, None, "TX"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("United States", "US"),
        ("united states of america", "US"),
        ("USA", "US"),
        ("U.S.", "US"),
        ("U.S.A.", "US"),
        ("us", "US"),
        (" US ", "US"),
        ("Canada", "Canada"),
        ("  United   Kingdom ", "United Kingdom"),
        ("", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_normalise_country_table(raw, expected):
    assert normalise_country(raw) == expected


# --------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(212) 736-5000", "+12127365000"),
        ("212.736.5000", "+12127365000"),
        ("+1 212 736 5000", "+12127365000"),
        ("1-212-736-5000", "+12127365000"),
        ("2127365000", "+12127365000"),
        (2127365000, "+12127365000"),
        (2127365000.0, "+12127365000"),
        ("212-736-5000 ext. 12", "+12127365000"),
        ("+1 416 979 2000", "+14169792000"),  # Toronto: valid NANP, not US
        ("+44 20 7946 0958", "+442079460958"),
        ("020 7946 0958", None),  # UK national format read as a US number: invalid
        ("123", None),
        ("not a phone", None),
        ("", None),
        (None, None),
        (float("nan"), None),
        (True, None),
    ],
)
def test_normalise_phone_table(raw, expected):
    reference = None
    if isinstance(raw, str) and raw.strip():
        try:
            n = phonenumbers.parse(raw, "US")
            if phonenumbers.is_valid_number(n):
                reference = phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            pass
        # the table must agree with phonenumbers itself
        assert reference == expected
    assert normalise_phone(raw) == expected


@given(
    st.integers(min_value=200, max_value=999),
    st.integers(min_value=0, max_value=999),
    st.integers(min_value=0, max_value=9999),
    st.sampled_from(["", "1", "+1", "+1 ", "1-", "1 ("]),
    st.sampled_from(
        ["{a}{b}{c}", "({a}) {b}-{c}", "{a}.{b}.{c}", "{a}-{b}-{c}", "({a}){b}-{c}", "{a} {b} {c}"]
    ),
)
@settings(max_examples=300, deadline=None)
def test_phone_nanp_shortcut_agrees_with_phonenumbers(area, exchange, line, prefix, fmt):
    text = prefix + fmt.format(a=f"{area:03d}", b=f"{exchange:03d}", c=f"{line:04d}")
    try:
        n = phonenumbers.parse(text, "US")
        expected = (
            phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(n)
            else None
        )
    except phonenumbers.NumberParseException:
        expected = None
    assert normalise_phone(text) == expected


def test_normalise_phones_vectorised():
    s = pd.Series(["(212) 736-5000", None, "junk", "(212) 736-5000"], index=list("wxyz"))
    assert normalise_phones(s).to_dict() == {"w": "+12127365000", "x": None, "y": None, "z": "+12127365000"}


# --------------------------------------------------------------------------- company


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.com", "acme.com"),
        ("https://www.Acme.com/about?x=1#top", "acme.com"),
        ("HTTP://WWW.ACME.COM:8080/", "acme.com"),
        ("www.acme.co.uk.", "acme.co.uk"),
        ("//acme.io", "acme.io"),
        ("https://user@shop.acme.com", "shop.acme.com"),
        ("http://www.com", "www.com"),  # nothing left to strip: `www.` stays
        ("acme", None),
        ("acme .com", None),
        ("https://", None),
        ("a..b.com", None),
        ("-acme.com", None),
        ("192.168.0.1", None),
        ("<script>.com", None),
        ("", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_website_domain_table(raw, expected):
    assert website_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (250, 250),
        (np.int64(250), 250),
        (250.0, 250),
        ("1,200", 1200),
        (" 75 ", 75),
        ("51-200", 51),
        ("51 - 200 employees", 51),
        ("10,001+", 10001),
        ("10001+ employees", 10001),
        ("1k-5k", 1000),
        ("2.5K", 2500),
        ("self-employed", None),
        ("abc", None),
        (0, None),
        (-5, None),
        (10**12, None),
        ("9" * 400, None),  # float("9"*400) is inf
        (0.4, None),
        (True, None),
        (float("nan"), None),
        (float("inf"), None),
        (None, None),
    ],
)
def test_company_size_table(raw, expected):
    assert normalise_company_size(raw) == expected


def test_company_sizes_is_nullable_int():
    out = company_sizes(pd.Series([50, "51-200", None, "x"]))
    assert str(out.dtype) == "Int64"
    assert out.tolist() == [50, 51, pd.NA, pd.NA]


# --------------------------------------------------------------------------- clean_text


def test_clean_text_keeps_data_verbatim():
    s = pd.Series(
        [
            "  Acme\x00 Inc  ",
            "Robert'); DROP TABLE leads;--",
            "<b>Acme</b> & Co",
            '=HYPERLINK("http://x")',
            "line\none\t\ttab",
            "",
            "   ",
            None,
            float("nan"),
            42,
        ],
        index=range(100, 110),
    )
    out = clean_text(s)
    assert list(out.index) == list(range(100, 110))
    assert out.tolist() == [
        "Acme Inc",
        "Robert'); DROP TABLE leads;--",
        "<b>Acme</b> & Co",
        '=HYPERLINK("http://x")',
        "line one tab",
        None,
        None,
        None,
        None,
        "42",
    ]
    assert clean_text(pd.Series(["abcdef  "]), max_len=3).tolist() == ["abc"]


# --------------------------------------------------------------------------- normalise_leads


def _raw_lead(**overrides) -> dict:
    lead = {
        "vendor_person_id": "p1",
        "full_name": "  Jane   Doe ",
        "first_name": None,
        "last_name": None,
        "linkedin_url": "HTTP://UK.LinkedIn.com/in/Jane-Doe-123/?trk=x#y",
        "job_title": "Sr. PPC Manager, North America",
        "company_name": "Acme Inc",
        "location_city": "San Francisco",
        "location_state": "California",
        "location_country": "United States",
        "email": "Jane.Doe@Acme.com",
        "email_status": "verified",
        "phone": "(212) 736-5000",
        "company_website": "https://www.acme.com/",
        "company_industry": "marketing & advertising",
        "company_size": "51-200",
        "profile_picture_url": "https://media.licdn.com/p/1.jpg",
    }
    lead.update(overrides)
    return lead


def test_normalise_leads_full_row(matcher):
    df = pd.DataFrame([_raw_lead()], index=["r1"])
    out = normalise_leads(df, matcher)
    row = out.loc["r1"]
    assert list(out.index) == ["r1"]
    assert row["full_name"] == "Jane Doe"
    assert (row["first_name"], row["last_name"]) == ("Jane", "Doe")
    assert row["linkedin_url"] == JANE
    assert row["job_title"] == "Sr. PPC Manager, North America"
    assert row["target_role"] == "PPC Manager"
    assert (row["location_city"], row["location_state"], row["location_country"]) == (
        "San Francisco",
        "CA",
        "US",
    )
    assert (row["email"], row["email_status"]) == ("jane.doe@acme.com", "verified")
    assert row["phone"] == "+12127365000"
    assert row["company_website"] == "acme.com"
    assert row["company_size"] == 51
    assert str(out["company_size"].dtype) == "Int64"
    assert row["validation_errors"] == ""
    assert not row["needs_enrichment"]
    assert row["vendor_person_id"] == "p1"  # passed through for dedup keys
    for col in (*LEAD_INPUT_COLUMNS, "target_role", "validation_errors", "needs_enrichment"):
        assert col in out.columns


def test_normalise_leads_missing_columns_are_none(matcher):
    df = pd.DataFrame({"full_name": ["Jane Doe"]}, index=[7])
    out = normalise_leads(df, matcher)
    row = out.loc[7]
    assert row["linkedin_url"] is None and row["email"] is None
    assert row["email_status"] == "missing"
    assert row["validation_errors"].split(";") == [
        "linkedin_url:missing",
        "job_title:missing",
        "company_name:missing",
        "location:missing_city",
        "location:missing_state",
    ]
    assert row["needs_enrichment"]


@pytest.mark.parametrize(
    ("state", "country", "out_state", "out_country", "error"),
    [
        ("Texas", None, "TX", "US", ""),  # a US state implies the US
        ("tx", "USA", "TX", "US", ""),
        ("Ontario", "Canada", "Ontario", "Canada", ""),  # elsewhere any state text is valid
        ("WA", "Australia", "WA", "Australia", ""),  # not turned into Washington
        ("Ontario", None, "Ontario", None, "location:invalid_state"),
        ("Ontario", "United States", "Ontario", "US", "location:invalid_state"),
        (None, "US", None, "US", "location:missing_state"),
    ],
)
def test_normalise_leads_location(matcher, state, country, out_state, out_country, error):
    df = pd.DataFrame([_raw_lead(location_state=state, location_country=country)])
    row = normalise_leads(df, matcher).iloc[0]
    assert row["location_state"] == out_state
    assert row["location_country"] == out_country
    assert row["validation_errors"] == error


@pytest.mark.parametrize(
    ("overrides", "errors", "needs_enrichment"),
    [
        ({"email": "not-an-email"}, "", True),  # email problems live in email_status only
        ({"email": None}, "", True),
        ({"company_size": None}, "", True),
        ({"company_website": "nope"}, "", True),
        ({"full_name": "x" * 201}, "full_name:too_long", True),
        ({"full_name": "12345"}, "full_name:invalid", True),
        ({"full_name": None, "first_name": None, "last_name": None}, "full_name:missing", True),
        ({"full_name": None, "first_name": "Jane", "last_name": "Doe"}, "", False),
        ({"linkedin_url": "https://www.linkedin.com/sales/lead/ACwAA,NAME"}, "linkedin_url:invalid", True),
        ({"linkedin_url": "  "}, "linkedin_url:missing", True),
        ({"job_title": "T" * 201}, "job_title:too_long", True),
        ({"company_name": "\x00 "}, "company_name:missing", True),
        ({"location_city": None}, "location:missing_city", True),
        ({"location_city": "c" * 201}, "location:city_too_long", True),
        ({"job_title": "Marketing Manager"}, "", False),  # not a target role, still valid
    ],
)
def test_normalise_leads_validation_and_enrichment(matcher, overrides, errors, needs_enrichment):
    row = normalise_leads(pd.DataFrame([_raw_lead(**overrides)]), matcher).iloc[0]
    assert row["validation_errors"] == errors
    assert bool(row["needs_enrichment"]) is needs_enrichment


def test_normalise_leads_undeliverable_email_needs_enrichment(matcher):
    row = normalise_leads(pd.DataFrame([_raw_lead(email_status="undeliverable")]), matcher).iloc[0]
    assert row["email"] == "jane.doe@acme.com" and row["email_status"] == "unverified"
    assert row["needs_enrichment"]


def test_normalise_leads_invalid_email_status(matcher):
    row = normalise_leads(pd.DataFrame([_raw_lead(email="bad@@x", email_status="verified")]), matcher).iloc[0]
    assert row["email"] is None and row["email_status"] == "invalid"


def test_normalise_leads_keeps_duplicate_index_and_order(matcher):
    df = pd.DataFrame([_raw_lead(), _raw_lead(full_name="Wei Chen")], index=[3, 3])
    out = normalise_leads(df, matcher)
    assert list(out.index) == [3, 3]
    assert out["full_name"].tolist() == ["Jane Doe", "Wei Chen"]


def test_normalise_leads_empty_frame(matcher):
    out = normalise_leads(pd.DataFrame(columns=list(LEAD_INPUT_COLUMNS)), matcher)
    assert len(out) == 0
    assert "validation_errors" in out.columns


_junk = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    st.booleans(),
    st.builds(lambda t, n: (t or "x") * n, st.text(max_size=5), st.integers(min_value=100, max_value=5000)),
    st.builds(lambda t: f"\x00{t}\x00 \x00", st.text(max_size=20)),
    _linkedin_like,
)


@given(st.lists(st.fixed_dictionaries({c: _junk for c in LEAD_INPUT_COLUMNS}), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_normalise_leads_never_raises(rows):
    matcher = TitleMatcher.from_config(sprint_config())
    df = pd.DataFrame(rows)
    out = normalise_leads(df, matcher)
    assert len(out) == len(df)
    assert out.index.equals(df.index)
    assert out["email_status"].isin(["missing", "invalid", "unverified", "verified"]).all()
    assert all(isinstance(v, str) for v in out["validation_errors"])
    assert out["needs_enrichment"].dtype == bool
    for v in out["linkedin_url"]:
        assert v is None or canonical_linkedin_url(v) == v
    for v in out["location_state"]:
        assert v is None or isinstance(v, str)
    sizes = out["company_size"].dropna()
    assert ((sizes > 0) & (sizes <= 10_000_000)).all()
    for text_col in ("full_name", "job_title", "company_name", "location_city"):
        for v in out[text_col]:
            assert v is None or (v == v.strip() and "\x00" not in v and "  " not in v)


def test_map_distinct_keeps_strings_that_differ_after_a_nul():
    # pandas.factorize stops hashing a string at NUL: "a" and "a\0b" would share one answer
    from lead_assets.core.normalise import map_distinct

    out = map_distinct(pd.Series(["", "\x00", "a", "a\x00b", None, "a"], dtype=object), lambda v: f"<{v}>")
    assert out.tolist() == ["<>", "<\x00>", "<a>", "<a\x00b>", None, "<a>"]
