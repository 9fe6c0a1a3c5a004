"""Dedup keys: format, per-row priority order, and stable lead ids."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from lead_assets.config.settings import sprint_config
from lead_assets.core.dedup_keys import KEY_PRIORITY, lead_keys, mint_lead_id, weak_key_frame
from lead_assets.core.normalise import normalise_leads
from lead_assets.core.sales_navigator_csv import match_key_name_domain, normalise_person_name
from lead_assets.core.titles import TitleMatcher

LI = "https://www.linkedin.com/in/jane-doe"


def test_key_priority():
    assert KEY_PRIORITY == ("linkedin", "email", "vendor")


def test_lead_keys_order_and_format():
    df = pd.DataFrame(
        {
            "vendor_person_id": ["p1", None, "p3", " ", 12345.0],
            "linkedin_url": [LI, None, None, None, "https://www.linkedin.com/in/wei"],
            "email": ["jane@acme.com", "sam@acme.com", None, None, None],
        },
        index=["r1", "r2", "r3", "r4", "r5"],
    )
    keys = lead_keys(df, "apollo")
    assert list(keys.columns) == ["row", "kind", "key"]
    assert keys.to_dict("records") == [
        {"row": "r1", "kind": "linkedin", "key": f"li:{LI}"},
        {"row": "r1", "kind": "email", "key": "em:jane@acme.com"},
        {"row": "r1", "kind": "vendor", "key": "vid:apollo:p1"},
        {"row": "r2", "kind": "email", "key": "em:sam@acme.com"},
        {"row": "r3", "kind": "vendor", "key": "vid:apollo:p3"},
        # r4 has no key at all: no entries
        {"row": "r5", "kind": "linkedin", "key": "li:https://www.linkedin.com/in/wei"},
        {"row": "r5", "kind": "vendor", "key": "vid:apollo:12345"},  # float id from a NaN-holed column
    ]


def test_lead_keys_custom_id_column_and_missing_columns():
    df = pd.DataFrame({"zi_id": [7, 8], "email": [None, "a@b.com"]}, index=[10, 20])
    keys = lead_keys(df, "zoominfo", id_column="zi_id")
    assert keys.values.tolist() == [
        [10, "vendor", "vid:zoominfo:7"],
        [20, "email", "em:a@b.com"],
        [20, "vendor", "vid:zoominfo:8"],
    ]
    only_email = lead_keys(pd.DataFrame({"email": ["a@b.com"]}), "apollo")
    assert only_email["key"].tolist() == ["em:a@b.com"]


def test_lead_keys_empty():
    keys = lead_keys(pd.DataFrame({"email": []}), "apollo")
    assert len(keys) == 0
    assert list(keys.columns) == ["row", "kind", "key"]


def test_lead_keys_on_normalised_leads_unify_url_spellings():
    raw = pd.DataFrame(
        {
            "vendor_person_id": ["a", "b"],
            "linkedin_url": ["HTTP://UK.LinkedIn.com/in/Jane-Doe/?trk=x", "linkedin.com/in/jane%2Ddoe"],
            "email": ["Jane@Acme.com ", "email_not_unlocked@domain.com"],
        }
    )
    norm = normalise_leads(raw, TitleMatcher.from_config(sprint_config()))
    keys = lead_keys(norm, "sales_navigator")
    li = keys[keys["kind"] == "linkedin"]["key"].unique().tolist()
    assert li == [f"li:{LI}"]
    assert keys[keys["kind"] == "email"]["key"].tolist() == ["em:jane@acme.com"]


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.text(min_size=1, max_size=5)),
            st.one_of(st.none(), st.just(LI)),
            st.one_of(st.none(), st.just("x@y.com")),
        ),
        max_size=15,
    )
)
@settings(max_examples=100, deadline=None)
def test_lead_keys_are_grouped_by_row_in_priority_order(rows):
    df = pd.DataFrame(rows, columns=["vendor_person_id", "linkedin_url", "email"])
    keys = lead_keys(df, "apollo")
    positions = [df.index.get_loc(r) for r in keys["row"]]
    ranks = [KEY_PRIORITY.index(k) for k in keys["kind"]]
    assert list(zip(positions, ranks, strict=True)) == sorted(zip(positions, ranks, strict=True))
    assert all(
        k.startswith({"linkedin": "li:", "email": "em:", "vendor": "vid:apollo:"}[kind])
        for kind, k in zip(keys["kind"], keys["key"], strict=True)
    )


def test_mint_lead_id_is_stable():
    key = f"li:{LI}"
    lead_id = mint_lead_id(key)
    assert lead_id == mint_lead_id(key)
    assert lead_id.startswith("ld_") and len(lead_id) == 3 + 24
    assert all(c in "0123456789abcdef" for c in lead_id[3:])
    assert (
        mint_lead_id("li:https://www.linkedin.com/in/jane-doe-123") == "ld_b1b02a951d0d8fea1d26ef75"
    )  # pinned
    assert mint_lead_id("em:jane@acme.com") != lead_id


def _weak_keys_one_by_one(df: pd.DataFrame) -> list[tuple]:
    """The definition `weak_key_frame` vectorises: per row, name at domain, then name at company name."""
    out = []
    for row, name, site, company in zip(df.index, df["full_name"], df["company_website"], df["company_name"],
                                        strict=True):
        if (nd := match_key_name_domain(name, site)) is not None:
            out.append((row, "name_domain", "nd:" + nd))
        person, employer = normalise_person_name(name), normalise_person_name(company)
        if person and employer:
            out.append((row, "name_company", f"nc:{person}|{employer}"))
    return out


def test_weak_key_frame_names_a_person_at_their_employer():
    df = pd.DataFrame(
        {
            "full_name": ["Jane Doe (She/Her)", "José Núñez", "Jane Doe", None, "Wei", "Ann Lee"],
            "company_website": ["acme.com", "www.Acme.com", "linkedin.com", "acme.com", None, "bad domain"],
            "company_name": ["Acme, Inc", None, "Acme", "Acme", "Beta", "ÉLAN"],
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    weak = weak_key_frame(df)
    assert list(weak.itertuples(index=False, name=None)) == [
        (10, "name_domain", "nd:jane doe|acme.com"),
        (10, "name_company", "nc:jane doe|acme inc"),
        (11, "name_domain", "nd:jose nunez|acme.com"),
        (12, "name_company", "nc:jane doe|acme"),  # linkedin.com is no employer's website
        (14, "name_company", "nc:wei|beta"),
        (15, "name_company", "nc:ann lee|elan"),
    ]
    assert weak_key_frame(df.iloc[:0]).empty


_NAMEISH = st.one_of(st.none(), st.text(alphabet="aAbé É.-'(Ł) \x00\u0301xyz", max_size=14))


@given(st.lists(st.tuples(_NAMEISH, st.one_of(st.none(), st.sampled_from(
    ["acme.com", "ACME.com", "www.acme.com", "linkedin.com", "uk.linkedin.com", "a b", "x.co"])), _NAMEISH),
    max_size=12))
@settings(max_examples=150, deadline=None)
def test_weak_key_frame_agrees_with_the_row_by_row_definition(rows):
    df = pd.DataFrame(rows, columns=["full_name", "company_website", "company_name"], dtype=object)
    assert list(weak_key_frame(df).itertuples(index=False, name=None)) == _weak_keys_one_by_one(df)


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=20))
@settings(max_examples=300, deadline=None)
def test_ascii_names_skip_unicode_folding_without_changing_the_key(s):
    import unicodedata

    from lead_assets.core.sales_navigator_csv import _NAME_PUNCT_RE, _PARENTHETICAL_RE, clean_str

    cleaned = clean_str(s)
    if cleaned is None:
        assert normalise_person_name(s) is None
        return
    folded = unicodedata.normalize("NFKD", _PARENTHETICAL_RE.sub(" ", cleaned).casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    assert normalise_person_name(s) == (" ".join(_NAME_PUNCT_RE.sub("", folded).split()) or None)
