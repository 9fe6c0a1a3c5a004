"""The sandbox's synthetic world: companies and the vendor records of the people who work there.

Every vendor module serves the same population, so a person found in Apollo is the same human a
later email finder or CRM emulator knows. Generation is deterministic for a ``(seed, size, flaw
rates)`` triple and cached in-process, so a test and the server it starts see identical people.

Vocabulary:

* a *record* (:class:`Person`) is what a vendor stores and returns, with its own vendor id;
* a *real person* is the human behind it. About 2 % of records are a second vendor id for a real
  person who already has one (``real_id`` is shared), which is what cross-record dedup must find;
* *flaws* are the realistic defects the project must survive (missing or malformed emails, gaps in
  company data, LinkedIn URL variants, state names vs codes, hostile strings, duplicates).

The role titles and metros are the sandbox's own lists: they overlap the sprint's
``sprint.yaml`` on purpose, but the sandbox imports nothing from the rest of ``lead_assets``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote, urlsplit

# --------------------------------------------------------------------------------------------
# Reference lists (hard-coded: the sandbox must not depend on the project's configuration).
# --------------------------------------------------------------------------------------------

# Ten target roles and the title spellings vendors use for them (overlaps sprint.yaml's aliases).
TARGET_ROLES: dict[str, tuple[str, ...]] = {
    "Performance Marketing Manager": (
        "performance marketing manager",
        "performance marketing lead",
        "head of performance marketing",
        "performance marketing director",
    ),
    "Paid Media Manager": (
        "paid media manager",
        "paid media lead",
        "director of paid media",
        "head of paid media",
    ),
    "PPC Manager": (
        "ppc manager",
        "ppc lead",
        "pay per click manager",
        "pay-per-click manager",
        "ppc specialist",
    ),
    "Media Buyer": ("media buyer", "senior media buyer", "digital media buyer", "programmatic media buyer"),
    "Paid Search Manager": ("paid search manager", "paid search lead", "search engine marketing manager"),
    "Paid Social Manager": ("paid social manager", "paid social lead", "social ads manager"),
    "SEM Manager": ("sem manager", "sem lead", "search marketing manager"),
    "Growth Marketing Manager": (
        "growth marketing manager",
        "growth marketing lead",
        "head of growth marketing",
    ),
    "Digital Marketing Manager": (
        "digital marketing manager",
        "digital marketing lead",
        "digital advertising manager",
    ),
    "User Acquisition Manager": (
        "user acquisition manager",
        "acquisition marketing manager",
        "ua manager",
        "head of user acquisition",
    ),
}

# Near-miss titles that a vendor's "similar titles" search still returns for a target title
# (every word of a target title is present) although no alias matches as a phrase.
NEAR_MISS_REACHABLE: tuple[str, ...] = (
    "Manager, Paid Search",
    "Manager, Paid Social",
    "Manager, PPC & Paid Social",
    "Marketing Manager, SEM & Display",
    "Buyer, Digital Media",
    "Manager of Performance Marketing",
    "Growth Manager, Marketing",
    "Digital Marketing Assistant Manager",
    "Manager, Paid Media Partnerships",
)
# Near-miss titles no target-title search returns: the population's background.
NEAR_MISS_UNREACHABLE: tuple[str, ...] = (
    "Marketing Manager",
    "Social Media Coordinator",
    "Account Executive",
    "Performance Marketing Intern",
    "Content Marketing Manager",
    "SEO Specialist",
    "Brand Manager",
    "Marketing Coordinator",
    "Email Marketing Manager",
    "Product Marketing Manager",
    "Media Planner",
    "Paid Media Coordinator",
    "Marketing Director",
    "Social Media Manager",
    "Digital Marketing Specialist",
    "Growth Analyst",
    "Sales Development Representative",
    "Creative Director",
    "Communications Manager",
    "E-commerce Manager",
)

# The sprint's twelve US metros (city, state) with rough weights by market size.
METROS: tuple[tuple[str, str, int], ...] = (
    ("New York", "New York", 18),
    ("Los Angeles", "California", 12),
    ("Chicago", "Illinois", 9),
    ("San Francisco", "California", 10),
    ("Austin", "Texas", 6),
    ("Dallas", "Texas", 6),
    ("Houston", "Texas", 5),
    ("Boston", "Massachusetts", 7),
    ("Seattle", "Washington", 7),
    ("Atlanta", "Georgia", 6),
    ("Miami", "Florida", 5),
    ("Denver", "Colorado", 5),
)
OTHER_US_CITIES: tuple[tuple[str, str], ...] = (
    ("Portland", "Oregon"),
    ("Phoenix", "Arizona"),
    ("Philadelphia", "Pennsylvania"),
    ("San Diego", "California"),
    ("Minneapolis", "Minnesota"),
    ("Nashville", "Tennessee"),
    ("Raleigh", "North Carolina"),
    ("Salt Lake City", "Utah"),
    ("Columbus", "Ohio"),
    ("Detroit", "Michigan"),
    ("Pittsburgh", "Pennsylvania"),
    ("Kansas City", "Missouri"),
    ("Sacramento", "California"),
    ("Charlotte", "North Carolina"),
    ("San Antonio", "Texas"),
    ("Orlando", "Florida"),
)
NON_US_CITIES: tuple[tuple[str, str, str], ...] = (
    ("London", "England", "United Kingdom"),
    ("Manchester", "England", "United Kingdom"),
    ("Toronto", "Ontario", "Canada"),
    ("Vancouver", "British Columbia", "Canada"),
    ("Dublin", "Dublin", "Ireland"),
    ("Berlin", "Berlin", "Germany"),
    ("Sydney", "New South Wales", "Australia"),
    ("Bengaluru", "Karnataka", "India"),
)
US = "United States"

US_STATES: dict[str, str] = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "District of Columbia",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
}
STATE_CODES: dict[str, str] = {name: code for code, name in US_STATES.items()}

# Area codes for fictional phone numbers (555-01xx is reserved for fiction in the NANP).
AREA_CODES: dict[str, str] = {
    "New York": "212",
    "Los Angeles": "213",
    "Chicago": "312",
    "San Francisco": "415",
    "Austin": "512",
    "Dallas": "214",
    "Houston": "713",
    "Boston": "617",
    "Seattle": "206",
    "Atlanta": "404",
    "Miami": "305",
    "Denver": "303",
    "Toronto": "416",
    "Vancouver": "604",
}

INDUSTRIES: tuple[tuple[str, int], ...] = (
    ("marketing & advertising", 20),
    ("internet", 12),
    ("retail", 10),
    ("computer software", 12),
    ("consumer goods", 8),
    ("information technology & services", 10),
    ("financial services", 5),
    ("hospital & health care", 4),
    ("e-learning", 3),
    ("apparel & fashion", 4),
    ("food & beverages", 3),
    ("real estate", 3),
    ("automotive", 2),
    ("entertainment", 3),
    ("leisure, travel & tourism", 2),
    ("health, wellness & fitness", 3),
    ("consumer services", 2),
)

# Name locales: mostly US names, with accented and non-English names for unicode coverage.
NAME_LOCALES: tuple[tuple[str, int], ...] = (
    ("en_US", 70),
    ("es_MX", 8),
    ("en_IN", 5),
    ("de_DE", 4),
    ("fr_FR", 4),
    ("pl_PL", 3),
    ("pt_BR", 3),
    ("it_IT", 2),
    ("vi_VN", 1),
)
APOSTROPHE_SURNAMES = (
    "O'Brien",
    "O'Connor",
    "D'Angelo",
    "O'Neil",
    "D'Souza",
    "O'Malley",
    "L'Heureux",
    "DeAngelo",
)
HYPHEN_FIRST_NAMES = ("Mary-Jane", "Jean-Luc", "Anne-Marie", "Jean-Pierre", "Mary-Kate", "Ji-woo")

# Strings that break naive CSV exports, SQL built by string formatting, HTML reports or Postgres.
HOSTILE_PERSON_STRINGS: tuple[str, ...] = (
    '=HYPERLINK("http://evil.example/steal","Click me")',
    "Robert'); DROP TABLE leads;--",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "@SUM(A1:A9)",
    "<img src=x onerror=alert(1)>",
    "Zoë 🚀 Ünïcødé",
    "محمد",
    "Jo\u200bhn",
    "Null\x00Byte",
    ("Wolfeschlegelsteinhausenbergerdorff" * 143)[:5000],
)
HOSTILE_COMPANY_STRINGS: tuple[str, ...] = (
    "<script>alert(1)</script> Inc",
    '=HYPERLINK("http://evil.example","Acme")',
    "Acme'); DROP TABLE companies;--",
    "-2+3 Holdings",
    ("Very Long Company Name " * 220)[:5000],
)

COMPANY_WORDS_A = (
    "Blue",
    "Bright",
    "North",
    "Red",
    "Silver",
    "Green",
    "Summit",
    "Peak",
    "Clear",
    "Swift",
    "Nova",
    "Urban",
    "Iron",
    "Golden",
    "Lumen",
    "Orbit",
    "Pixel",
    "Quantum",
    "Harbor",
    "Cedar",
    "Maple",
    "Echo",
    "Atlas",
    "Vertex",
    "Pioneer",
    "Beacon",
    "Evergreen",
    "Falcon",
    "Granite",
    "Horizon",
)
COMPANY_WORDS_B = (
    "wave",
    "line",
    "point",
    "path",
    "stone",
    "field",
    "light",
    "spark",
    "bridge",
    "works",
    "forge",
    "loop",
    "scale",
    "shift",
    "stack",
    "beam",
    "leaf",
    "mark",
)
COMPANY_WORDS_C = (
    "Media",
    "Digital",
    "Commerce",
    "Labs",
    "Health",
    "Retail",
    "Brands",
    "Software",
    "Analytics",
    "Group",
    "Marketing",
    "Interactive",
    "Apparel",
    "Foods",
    "Travel",
    "",
)
DOMAIN_STOPWORDS = {"inc", "llc", "plc", "ltd", "group", "and", "sons", "co", "the", "corp", "corporation"}
TLDS: tuple[tuple[str, int], ...] = ((".com", 80), (".io", 8), (".co", 6), (".net", 3), (".ai", 3))
EMAIL_PATTERNS: tuple[tuple[str, int], ...] = (
    ("{first}.{last}", 45),
    ("{f}{last}", 20),
    ("{first}", 12),
    ("{first}{last}", 10),
    ("{first}_{last}", 5),
    ("{last}.{first}", 4),
    ("{first}{l}", 4),
)
PERSONAL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "proton.me")

PLACEHOLDER_EMAIL = "email_not_unlocked@domain.com"

# Defaults for the flaw and mix rates (shares of records unless said otherwise); SandboxConfig.flaws
# overrides them. The measured values are in Population.summary().
FLAW_DEFAULTS: dict[str, float] = {
    "target_title": 0.75,  # title is a target role title or a close variant of one
    "near_miss_reachable": 0.35,  # of near-miss titles: share a target-title search still returns
    "metro": 0.88,  # lives in one of the 12 sprint metros
    "non_us": 0.05,  # lives outside the US (the rest: other US cities)
    "email_present": 0.45,  # the vendor has some email value (valid, malformed or the placeholder)
    "email_malformed": 0.03,  # ... of which malformed (share of all records)
    "email_placeholder": 0.02,  # ... of which the locked placeholder (share of all records)
    "email_mixed_case": 0.05,  # of valid emails: returned with capitals (still valid)
    "company_gap": 0.12,  # share of companies without industry, size or website
    "state_code": 0.20,  # state shown as its postal code instead of the full name
    "missing_title": 0.01,
    "missing_linkedin": 0.01,
    "hostile_string": 0.003,  # person names and company names (each)
    "duplicate": 0.02,  # records that are a second vendor id for an already present real person
    "phone": 0.35,  # has a direct phone
    "photo": 0.80,
    "personal_email": 0.25,  # has a personal address (only revealed on request)
    "odd_case": 0.01,  # name or title all lower-case or all upper-case
    "unicode_slug": 0.5,  # of people with non-ASCII names: LinkedIn slug keeps the accents
    # Which sources know whom (shares of real people; seeded per person, outside the generator's
    # draws, so changing them never changes the people themselves).
    "apollo_coverage": 1.0,  # Apollo knows this share of the real people
    "zoominfo_coverage": 0.60,  # ZoomInfo knows this share of the people Apollo knows ...
    "zoominfo_only_coverage": 0.60,  # ... and this share of the people Apollo does not know
    "sales_navigator_share": 0.08,  # people on the team's Sales Navigator lead list (any source)
}


@dataclass(frozen=True)
class PopulationProfile:
    """A named population: its size in records and the rates that differ from FLAW_DEFAULTS."""

    name: str
    size: int
    rates: tuple[tuple[str, float], ...] = ()
    about: str = ""

    def rate_overrides(self) -> dict[str, float]:
        """The rates this profile sets (merge them over FLAW_DEFAULTS)."""
        return dict(self.rates)


# The full-scale sprint's world: 30,000 records (29,400 real people) so that a 24-hour run over
# every source meets the brief: ~22,600 collected, ~21,000 unique, duplicates ~7 % (under 10 %).
# Every flaw keeps its default rate; what changes is the source mix. Apollo knows 95 % of the
# people, ZoomInfo 4 % of those plus half of the rest (its own people), the team's Sales Navigator
# list holds 2 % of everybody. Apollo shows an address for 85 % of the people it sells (80 % valid
# once malformed and locked ones are counted): with the default's 45 %, ~12,000 leads would need
# Hunter's finder, 24 minutes at its 500 a minute; with 85 %, ~4,000 fit in 8 minutes of the full
# demo's 15. lead_assets_tests/test_sandbox_population.py checks these figures.
POPULATION_PROFILES: dict[str, PopulationProfile] = {
    "default": PopulationProfile("default", 6000, (), "the quick demo's and the tests' world"),
    "full": PopulationProfile(
        "full",
        30_000,
        (
            ("apollo_coverage", 0.95),
            ("email_present", 0.85),
            ("sales_navigator_share", 0.02),
            ("zoominfo_coverage", 0.04),
            ("zoominfo_only_coverage", 0.50),
        ),
        "the full 24-hour sprint's world (make demo FULL=1)",
    ),
}


def population_setting(value: int | str) -> int | str:
    """The canonical form of a population setting: an int for a number, a lower-case profile name.

    ValueError as :func:`population_spec`.
    """
    population_spec(value)
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    return int(text) if text.isdigit() else text


def population_spec(population: int | str) -> tuple[int, dict[str, float]]:
    """``(size, rate overrides)`` of a population setting: a profile name or a number of records.

    ValueError names the profiles when ``population`` is neither.
    """
    if isinstance(population, int) and not isinstance(population, bool):
        return population, {}
    text = str(population).strip().lower()
    if text.isdigit():
        return int(text), {}
    profile = None if isinstance(population, bool) else POPULATION_PROFILES.get(text)
    if profile is None:
        raise ValueError(
            f"unknown sandbox population {population!r}: a number of records or one of "
            f"{', '.join(sorted(POPULATION_PROFILES))}"
        )
    return profile.size, profile.rate_overrides()


# --------------------------------------------------------------------------------------------
# Records.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Company:
    """An employer as the vendor knows it (``None`` fields are the vendor's gaps)."""

    id: str
    name: str
    domain: str  # the real email domain, even when the vendor lacks the website
    primary_domain: str | None
    website_url: str | None
    linkedin_url: str | None
    industry: str | None
    estimated_num_employees: int | None
    phone: str | None
    street_address: str
    city: str
    state: str
    postal_code: str
    country: str
    founded_year: int | None
    annual_revenue: int | None
    gaps: tuple[str, ...] = ()  # which of industry/size/website the vendor lacks
    hostile: bool = False  # the name is one of HOSTILE_COMPANY_STRINGS


@dataclass(frozen=True)
class Person:
    """One vendor record of a person; ``real_id`` names the human behind it."""

    id: str
    real_id: str
    first_name: str
    last_name: str
    title: str | None
    title_kind: str  # "target" | "near_miss_reachable" | "near_miss" | "none"
    target_role: str | None  # the role a "target" title belongs to
    seniority: str
    departments: tuple[str, ...]
    city: str
    state: str  # as this record shows it: full name or postal code
    state_name: str  # the full name, whatever the record shows
    country: str
    location_kind: str  # "metro" | "us_other" | "non_us"
    linkedin_slug: str | None  # canonical slug (decoded, lower-case); None = the vendor lacks it
    linkedin_form: int  # 0 = vendor's usual URL form; >0 = a fixed variant (duplicate records)
    email: str | None  # what the vendor reveals: valid, malformed, the placeholder, or None
    email_kind: str  # "valid" | "malformed" | "placeholder" | "missing"
    email_status: str | None
    work_email: str  # the person's real work address, which a finder could discover
    personal_email: str | None
    phone: str | None
    photo_url: str | None
    company: Company
    last_refreshed_at: str
    duplicate_of: str | None = None  # vendor id of the real person's first record
    flaws: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class TruthPerson:
    """What the project's store should end up with for one real person."""

    real_id: str
    canonical_slug: str | None  # lower-case, percent-decoded; None when no record exposes it
    linkedin_url: str | None  # https://www.linkedin.com/in/<slug>
    email: str | None  # the valid address some record reveals (lower-case), else None
    work_email: str  # the person's real address (what a finder would discover)
    apollo_ids: tuple[str, ...]
    first_name: str
    last_name: str
    title: str | None
    title_kind: str
    target_role: str | None
    city: str
    state: str
    country: str
    in_metro: bool
    company_name: str
    company_domain: str

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Helpers shared with the vendor modules.
# --------------------------------------------------------------------------------------------

_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "æ": "ae"})


def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters and digits only (José O'Brien-Łukasz -> joseobrienlukasz)."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return re.sub(r"[^a-z0-9]", "", text.encode("ascii", "ignore").decode().lower())


def canonical_slug(url: str | None) -> str | None:
    """The profile slug of a LinkedIn URL in any of its variants, or ``None``.

    Lower-case and percent-decoded; scheme, sub-domain, trailing slash and query do not matter.
    """
    if not url or not isinstance(url, str):
        return None
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host != "linkedin.com" and not host.endswith(".linkedin.com"):
        return None
    segments = [s for s in unquote(parts.path).split("/") if s]
    if len(segments) >= 2 and segments[0].lower() == "in":
        return unicodedata.normalize("NFC", segments[1]).lower()
    return None


# LinkedIn URL forms a vendor returns for the same profile; 0 is Apollo's usual form.
LINKEDIN_FORMS = 10


def linkedin_url(slug: str, form: int = 0) -> str:
    """Render ``slug`` in URL form ``form`` (0..9): http/https, sub-domains, slash, query, case, encoding."""
    enc = quote(slug, safe="-")
    if form == 0:
        return f"http://www.linkedin.com/in/{enc}"
    if form == 1:
        return f"https://www.linkedin.com/in/{enc}"
    if form == 2:
        return f"https://linkedin.com/in/{enc}/"
    if form == 3:
        return f"https://uk.linkedin.com/in/{enc}"
    if form == 4:
        return f"https://m.linkedin.com/in/{enc}"
    if form == 5:
        return f"https://www.linkedin.com/in/{enc}?trk=public_profile_browsemap"
    if form == 6:
        return f"HTTPS://WWW.LINKEDIN.COM/IN/{enc.upper()}"
    if form == 7:
        # Percent-encoded where the usual form is not: raw accents, or %2D for an ASCII slug's hyphens.
        other = slug if enc != slug else slug.replace("-", "%2D")
        return f"https://www.linkedin.com/in/{other}"
    if form == 8:
        return f"http://www.linkedin.com/in/{enc}/"
    return f"www.linkedin.com/in/{enc}"


def title_tokens(title: str | None) -> frozenset[str]:
    """The lower-case words of a title ("Sr. Pay-Per-Click Manager" -> {sr, pay, per, click, manager})."""
    return frozenset(re.findall(r"[a-z0-9]+", (title or "").lower()))


# --------------------------------------------------------------------------------------------
# Population.
# --------------------------------------------------------------------------------------------


class Population:
    """The generated people (sorted by vendor id) with the look-up indexes the vendors need."""

    def __init__(
        self, seed: int, size: int, rates: Mapping[str, float], companies: list[Company], people: list[Person]
    ):
        self.seed = seed
        self.size = size
        self.rates = dict(rates)
        self.companies = companies
        self.people = people
        self.by_id: dict[str, Person] = {p.id: p for p in people}
        self.by_real_id: dict[str, list[Person]] = {}
        self.by_slug: dict[str, list[Person]] = {}
        self.by_email: dict[str, list[Person]] = {}
        self.by_name_domain: dict[tuple[str, str, str], list[Person]] = {}
        self.by_name_org: dict[tuple[str, str, str], list[Person]] = {}
        for p in people:  # people are sorted by id, so every index lists the lowest id first
            self.by_real_id.setdefault(p.real_id, []).append(p)
            if p.linkedin_slug:
                self.by_slug.setdefault(p.linkedin_slug, []).append(p)
            if p.email_kind == "valid":
                self.by_email.setdefault(p.email.lower(), []).append(p)
            first, last = p.first_name.lower(), p.last_name.lower()
            self.by_name_domain.setdefault((first, last, p.company.domain), []).append(p)
            self.by_name_org.setdefault((first, last, p.company.name.lower()), []).append(p)

    # -- who knows whom -------------------------------------------------------------------

    def apollo_knows(self, real_id: str) -> bool:
        """Whether Apollo holds this real person (a seeded draw per person, ``apollo_coverage``)."""
        coverage = self.rates.get("apollo_coverage", 1.0)
        return coverage >= 1.0 or stable_hash("apollo-coverage", self.seed, real_id) / 2**64 < coverage

    @functools.cached_property
    def apollo_people(self) -> list[Person]:
        """The records Apollo serves (sorted by id): every record of the people Apollo knows."""
        if self.rates.get("apollo_coverage", 1.0) >= 1.0:
            return self.people
        return [p for p in self.people if self.apollo_knows(p.real_id)]

    @classmethod
    def for_setting(
        cls, population: int | str = "default", seed: int = 7, rates: Mapping[str, float] | None = None
    ) -> Population:
        """The (cached) population of a sandbox ``population`` setting: a profile name or a size.

        ``rates`` override the profile's rates (as ``SandboxConfig.flaws`` does).
        """
        size, profile_rates = population_spec(population)
        return cls.generate(seed, size, {**profile_rates, **(rates or {})} or None)

    @classmethod
    def generate(
        cls, seed: int = 7, size: int = 6000, rates: Mapping[str, float] | None = None
    ) -> Population:
        """The population for ``(seed, size, rates)``, built once per process and then shared."""
        merged = {**FLAW_DEFAULTS, **(rates or {})}
        return _cached_population(seed, size, tuple(sorted(merged.items())))

    @classmethod
    def build(cls, seed: int = 7, size: int = 6000, rates: Mapping[str, float] | None = None) -> Population:
        """Build a fresh population without the cache (for determinism tests)."""
        return _Generator(seed, size, {**FLAW_DEFAULTS, **(rates or {})}).run()

    # -- ground truth ---------------------------------------------------------------------

    def ground_truth(self, records: Iterable[Person] | None = None) -> list[TruthPerson]:
        """One entry per distinct real person behind ``records`` (default: everybody).

        ``apollo_ids`` lists only the given records' ids, so a filtered truth says which ids a
        search could return; ``email`` and ``canonical_slug`` use all of the person's records.
        """
        chosen: dict[str, list[str]] = {}
        for p in self.people if records is None else records:
            chosen.setdefault(p.real_id, []).append(p.id)
        out = []
        for real_id, ids in chosen.items():
            recs = self.by_real_id[real_id]
            first = recs[0]
            slug = next((r.linkedin_slug for r in recs if r.linkedin_slug), None)
            email = next((r.email.lower() for r in recs if r.email_kind == "valid"), None)
            out.append(
                TruthPerson(
                    real_id=real_id,
                    canonical_slug=slug,
                    linkedin_url=f"https://www.linkedin.com/in/{quote(slug, safe='-')}" if slug else None,
                    email=email,
                    work_email=first.work_email,
                    apollo_ids=tuple(sorted(ids)),
                    first_name=first.first_name,
                    last_name=first.last_name,
                    title=first.title,
                    title_kind=first.title_kind,
                    target_role=first.target_role,
                    city=first.city,
                    state=first.state_name,
                    country=first.country,
                    in_metro=first.location_kind == "metro",
                    company_name=first.company.name,
                    company_domain=first.company.domain,
                )
            )
        out.sort(key=lambda t: t.apollo_ids[0])
        return out

    # -- measurement ----------------------------------------------------------------------

    def summary(self) -> dict:
        """Measured shares of the mix and the flaws (over records, unless the key says otherwise)."""
        n = len(self.people) or 1
        count = Counter()
        for p in self.people:
            count[f"email_{p.email_kind}"] += 1
            count[f"title_{p.title_kind}"] += 1
            count[f"location_{p.location_kind}"] += 1
            count["company_gap"] += bool(p.company.gaps)
            count["state_code"] += p.country == US and p.state != p.state_name
            count["missing_linkedin"] += p.linkedin_slug is None
            count["hostile_string"] += "hostile_name" in p.flaws or "hostile_company" in p.flaws
            count["duplicate_record"] += p.duplicate_of is not None
            count["phone"] += p.phone is not None
            count["odd_case"] += "odd_case" in p.flaws
            count["metro_and_target"] += p.location_kind == "metro" and p.title_kind == "target"
            count["unicode_name"] += not (p.first_name + p.last_name).isascii()
            count["company_complete"] += not p.company.gaps
        rates = {k: round(v / n, 4) for k, v in sorted(count.items())}
        return {
            "seed": self.seed,
            "records": len(self.people),
            "real_people": len(self.by_real_id),
            "companies": len(self.companies),
            "companies_with_gaps": round(
                sum(bool(c.gaps) for c in self.companies) / max(1, len(self.companies)), 4
            ),
            "metro_and_target_records": count["metro_and_target"],
            "rates": rates,
        }


@functools.lru_cache(maxsize=8)
def _cached_population(seed: int, size: int, rates: tuple[tuple[str, float], ...]) -> Population:
    return _Generator(seed, size, dict(rates)).run()


# --------------------------------------------------------------------------------------------
# Generation.
# --------------------------------------------------------------------------------------------


class _NamePools:
    """First and last names per locale, drawn once from seeded Faker instances (fast to sample)."""

    def __init__(self, seed: int, companies: int):
        from faker import Faker  # imported here: only generation needs it

        self.first: dict[str, list[str]] = {}
        self.last: dict[str, list[str]] = {}
        for i, (locale, _) in enumerate(NAME_LOCALES):
            fake = Faker(locale)
            fake.seed_instance(seed * 1000 + i)
            self.first[locale] = sorted({fake.first_name() for _ in range(250)})
            self.last[locale] = sorted({fake.last_name() for _ in range(400)})
        fake = Faker("en_US")
        fake.seed_instance(seed * 1000 + 999)
        self.company_names = [fake.company() for _ in range(companies)]


def _weighted(rng: random.Random, pairs: tuple[tuple, ...]):
    """Pick one of ``pairs`` (tuples) weighted by their last element."""
    return rng.choices(pairs, weights=[p[-1] for p in pairs])[0]


def _display_title(alias: str) -> str:
    """Title-case an alias the way profiles write it (PPC, SEM and UA stay upper-case)."""
    words = []
    for word in alias.split(" "):
        if word in {"ppc", "sem", "ua", "seo"}:
            words.append(word.upper())
        elif word == "of":
            words.append(word)
        else:
            words.append("-".join(part.capitalize() for part in word.split("-")))
    return " ".join(words)


def _seniority(title: str | None) -> str:
    words = title_tokens(title)
    for needle, level in (
        ("intern", "intern"),
        ("head", "head"),
        ("director", "director"),
        ("vp", "vp"),
        ("senior", "senior"),
        ("sr", "senior"),
        ("lead", "senior"),
        ("manager", "manager"),
        ("coordinator", "entry"),
        ("specialist", "entry"),
        ("assistant", "entry"),
        ("analyst", "entry"),
        ("representative", "entry"),
    ):
        if needle in words:
            return level
    return "senior"


class _Generator:
    """One generation run: a seeded RNG walked in a fixed order, so output depends only on inputs."""

    def __init__(self, seed: int, size: int, rates: dict[str, float]):
        if size < 1:
            raise ValueError("population size must be at least 1")
        self.seed = seed
        self.size = size
        self.rates = rates
        self.rng = random.Random(f"lead-sprint-sandbox:{seed}:{size}")
        self.company_count = max(20, size // 4)
        self.names = _NamePools(seed, self.company_count)
        self.used_ids: set[str] = set()
        self.used_slugs: set[str] = set()
        self.used_emails: set[str] = set()

    # -- ids and small pieces -------------------------------------------------------------

    def new_id(self) -> str:
        """A 24-hex id shaped like Apollo's (a Mongo ObjectId: timestamp, then random bytes)."""
        while True:
            ts = self.rng.randint(0x56000000, 0x68000000)  # 2015 .. 2025
            value = f"{ts:08x}{self.rng.getrandbits(64):016x}"
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    def phone(self, city: str, country: str) -> str:
        tail = f"01{self.rng.randint(0, 99):02d}"
        if country == "United Kingdom":
            return f"+44 20 7946 0{self.rng.randint(0, 999):03d}"
        if country not in (US, "Canada"):
            return f"+{self.rng.choice(['49', '61', '91', '353'])} {self.rng.randint(100, 999)} 555 {tail}"
        area = AREA_CODES.get(city, str(self.rng.choice([201, 303, 404, 503, 602, 615, 704, 801, 919])))
        style = self.rng.randrange(4)
        return (
            f"+1 {area}-555-{tail}",
            f"({area}) 555-{tail}",
            f"+1 {area} 555 {tail}",
            f"{area}.555.{tail}",
        )[style]

    def refreshed_at(self) -> str:
        start = datetime(2025, 6, 1, tzinfo=UTC)
        moment = start + timedelta(seconds=self.rng.randint(0, 540 * 86400))
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.rng.randint(0, 999):03d}+00:00"

    def place(self, metro: float, non_us: float) -> tuple[str, str, str, str]:
        """(city, state full name, country, kind) with the given metro and non-US shares."""
        roll = self.rng.random()
        if roll < metro:
            city, state, _ = _weighted(self.rng, METROS)
            return city, state, US, "metro"
        if roll < metro + non_us:
            city, state, country = self.rng.choice(NON_US_CITIES)
            return city, state, country, "non_us"
        city, state = self.rng.choice(OTHER_US_CITIES)
        return city, state, US, "us_other"

    # -- companies ------------------------------------------------------------------------

    def company_name(self) -> str:
        if self.rng.random() < 0.5:
            return self.rng.choice(self.names.company_names)
        c = self.rng.choice(COMPANY_WORDS_C)
        return f"{self.rng.choice(COMPANY_WORDS_A)}{self.rng.choice(COMPANY_WORDS_B)}{' ' + c if c else ''}"

    def companies(self) -> list[Company]:
        count = self.company_count
        names: set[str] = set()
        domains: set[str] = set()
        out = []
        while len(out) < count:
            name = self.company_name()
            if name in names:
                continue
            words = [w for w in re.findall(r"[a-z0-9]+", ascii_fold_words(name)) if w not in DOMAIN_STOPWORDS]
            base = "".join(words) or "company"
            domain = base + _weighted(self.rng, TLDS)[0]
            if domain in domains:
                domain = f"{base}{self.rng.randint(2, 99)}{_weighted(self.rng, TLDS)[0]}"
                if domain in domains:
                    continue
            names.add(name)
            domains.add(domain)
            # Hostile names only among the small employers (the tail of the list): one on a big
            # employer would put the flaw on hundreds of people instead of a handful.
            out.append(self.company(name, domain, hostile_ok=len(out) > count // 3))
        return out

    def company(self, name: str, domain: str, hostile_ok: bool) -> Company:
        city, state, country, _ = self.place(0.80, 0.05)
        employees = int(10 ** self.rng.uniform(0.5, 4.7))
        hostile = hostile_ok and self.rng.random() < self.rates["hostile_string"]
        if hostile:
            name = self.rng.choice(HOSTILE_COMPANY_STRINGS)
        slug = re.sub(r"[^a-z0-9]+", "-", ascii_fold_words(name)).strip("-")[:60] or domain.split(".")[0]
        street = self.rng.choice(["Main", "Market", "Broadway", "Oak", "Pine", "Congress", "Mission"])
        return Company(
            id=self.new_id(),
            name=name,
            domain=domain,
            primary_domain=domain,
            website_url=f"http://www.{domain}",
            linkedin_url=f"http://www.linkedin.com/company/{slug}",
            industry=_weighted(self.rng, INDUSTRIES)[0],
            estimated_num_employees=employees,
            phone=self.phone(city, country) if self.rng.random() < 0.7 else None,
            street_address=f"{self.rng.randint(1, 9999)} {street} St",
            city=city,
            state=state,
            postal_code=f"{self.rng.randint(10000, 99999)}" if country == US else "",
            country=country,
            founded_year=self.rng.randint(1950, 2023) if self.rng.random() < 0.8 else None,
            annual_revenue=employees * self.rng.randint(80, 400) * 1000 if self.rng.random() < 0.6 else None,
            hostile=hostile,
        )

    def with_gaps(self, company: Company) -> Company:
        """``company`` missing its industry, size or website (sometimes two of them)."""
        gaps = [self.rng.choices(["industry", "size", "website"], weights=[40, 35, 25])[0]]
        if self.rng.random() < 0.2:
            gaps.append(self.rng.choice([g for g in ("industry", "size", "website") if g not in gaps]))
        changes: dict = {"gaps": tuple(gaps)}
        if "industry" in gaps:
            changes["industry"] = None
        if "size" in gaps:
            changes["estimated_num_employees"] = None
        if "website" in gaps:
            changes.update(website_url=None, primary_domain=None)
        return dataclasses.replace(company, **changes)

    def place_gaps(self, companies: list[Company], employer_of: list[int]) -> list[Company]:
        """Give companies gaps until about ``company_gap`` of the *people* work at one.

        Drawing gaps per company would let one big employer swing the person-level share by
        several points, so companies are taken in random order while they fit the target.
        """
        headcount = Counter(employer_of)
        target = self.rates["company_gap"] * len(employer_of)
        slack = 0.005 * len(employer_of)
        covered = 0
        out = list(companies)
        order = list(range(len(companies)))
        self.rng.shuffle(order)
        for i in order:
            n = headcount.get(i, 0)
            if n == 0:
                if self.rng.random() < self.rates["company_gap"]:
                    out[i] = self.with_gaps(companies[i])  # nobody works there; keeps the company share real
                continue
            if covered < target and covered + n <= target + slack:
                out[i] = self.with_gaps(companies[i])
                covered += n
        return out

    # -- people ---------------------------------------------------------------------------

    def name(self) -> tuple[str, str, str]:
        locale = _weighted(self.rng, NAME_LOCALES)[0]
        first = self.rng.choice(self.names.first[locale])
        last = self.rng.choice(self.names.last[locale])
        roll = self.rng.random()
        if roll < 0.02:
            last = self.rng.choice(APOSTROPHE_SURNAMES)
        elif roll < 0.04:
            last = f"{last}-{self.rng.choice(self.names.last[locale])}"
        elif roll < 0.05:
            first = self.rng.choice(HYPHEN_FIRST_NAMES)
        return first, last, locale

    def title(self) -> tuple[str | None, str, str | None]:
        r = self.rates
        if self.rng.random() < r["missing_title"]:
            return None, "none", None
        if self.rng.random() < r["target_title"]:
            role = self.rng.choice(list(TARGET_ROLES))
            alias = self.rng.choice(TARGET_ROLES[role])
            title = _display_title(alias)
            roll = self.rng.random()
            if roll < 0.30 and not alias.startswith(("head", "director", "senior")):
                title = (
                    f"{self.rng.choice(['Senior', 'Senior', 'Sr.', 'Lead', 'Associate', 'Global'])} {title}"
                )
            elif roll < 0.38:
                title += self.rng.choice(
                    [", North America", " - E-commerce", " | B2B SaaS", " (Contract)", ", US"]
                )
            if self.rng.random() < r["odd_case"] * 2:
                title = title.lower() if self.rng.random() < 0.5 else title.upper()
            return title, "target", role
        if self.rng.random() < r["near_miss_reachable"]:
            return self.rng.choice(NEAR_MISS_REACHABLE), "near_miss_reachable", None
        return self.rng.choice(NEAR_MISS_UNREACHABLE), "near_miss", None

    def slug(self, first: str, last: str) -> str:
        if not (first + last).isascii() and self.rng.random() < self.rates["unicode_slug"]:
            parts = [re.sub(r"[^\w]+", "-", s.lower().replace("ß", "ss")).strip("-") for s in (first, last)]
        else:
            parts = [re.sub(r"[^a-z0-9]+", "-", ascii_fold_words(s)).strip("-") for s in (first, last)]
        parts = [p for p in parts if p] or ["member"]
        style = self.rng.random()
        if style < 0.6:
            base = "-".join(parts) + f"-{self.rng.getrandbits(32):08x}"[: self.rng.choice([7, 8, 9])]
        elif style < 0.8:
            base = "-".join(parts)
        else:
            base = "".join(parts)
        slug = base
        while slug in self.used_slugs:
            slug = f"{base}-{self.rng.randint(1, 999)}"
        self.used_slugs.add(slug)
        return slug

    def work_email(self, first: str, last: str, domain: str, pattern: str) -> str:
        f, lst = ascii_fold(first) or "x", ascii_fold(last) or "x"
        local = pattern.format(first=f, last=lst, f=f[0], l=lst[0])
        email = f"{local}@{domain}"
        n = 2
        while email in self.used_emails:
            email = f"{local}{n}@{domain}"
            n += 1
        self.used_emails.add(email)
        return email

    def malformed(self, email: str, first: str, last: str) -> str:
        local, domain = email.split("@", 1)
        return self.rng.choice(
            (
                f"{local}@",
                f"{first.lower()} {last.lower()}@{domain}",
                f"@{domain}",
                f"{local}@@{domain}",
                f"{local}@{domain.rsplit('.', 1)[0]}",
                f"{local}.@{domain}",
            )
        )

    def person(self, company: Company, pattern: str) -> Person:
        r = self.rates
        flaws: list[str] = []
        first, last, _ = self.name()
        title, title_kind, role = self.title()
        city, state_name, country, location_kind = self.place(r["metro"], r["non_us"])
        state = state_name
        if country == US and self.rng.random() < r["state_code"]:
            state = STATE_CODES[state_name]
        slug = self.slug(first, last)
        if self.rng.random() < r["missing_linkedin"]:
            slug = None
        work = self.work_email(first, last, company.domain, pattern)
        roll = self.rng.random()
        if roll < r["email_malformed"]:
            email, kind, status = self.malformed(work, first, last), "malformed", "unverified"
        elif roll < r["email_malformed"] + r["email_placeholder"]:
            email, kind, status = PLACEHOLDER_EMAIL, "placeholder", "verified"
        elif roll < r["email_present"]:
            email, kind = work, "valid"
            status = "verified" if self.rng.random() < 0.75 else "unverified"
            if self.rng.random() < r["email_mixed_case"]:
                local, domain = work.split("@")
                email = f"{'.'.join(p.capitalize() for p in local.split('.'))}@{domain.capitalize()}"
        else:
            email, kind = None, "missing"
            status = "unavailable" if self.rng.random() < 0.7 else None
        personal = None
        if self.rng.random() < r["personal_email"]:
            handle = f"{ascii_fold(first) or 'x'}{ascii_fold(last)[:1]}{self.rng.randint(1, 999)}"
            personal = f"{handle}@{self.rng.choice(PERSONAL_DOMAINS)}"
        # Display-only defects come last so slugs and emails derive from the real name.
        if self.rng.random() < r["odd_case"]:
            first, last = (
                (first.lower(), last.lower()) if self.rng.random() < 0.5 else (first.upper(), last.upper())
            )
            flaws.append("odd_case")
        if self.rng.random() < r["hostile_string"]:
            hostile = self.rng.choice(HOSTILE_PERSON_STRINGS)
            if self.rng.random() < 0.5:
                first = hostile
            else:
                last = hostile
            flaws.append("hostile_name")
        if company.hostile:
            flaws.append("hostile_company")
        departments = (
            ("master_sales",) if title and re.search(r"account|sales", title, re.I) else ("master_marketing",)
        )
        photo = None
        if self.rng.random() < r["photo"]:
            image = f"D4E03AQ{self.rng.getrandbits(64):016x}"
            photo = f"https://media.licdn.com/dms/image/v2/{image}/profile-displayphoto-shrink_200_200/0/"
        person_id = self.new_id()
        return Person(
            id=person_id,
            real_id=person_id,
            first_name=first,
            last_name=last,
            title=title,
            title_kind=title_kind,
            target_role=role,
            seniority=_seniority(title),
            departments=departments,
            city=city,
            state=state,
            state_name=state_name,
            country=country,
            location_kind=location_kind,
            linkedin_slug=slug,
            linkedin_form=0,
            email=email,
            email_kind=kind,
            email_status=status,
            work_email=work,
            personal_email=personal,
            phone=self.phone(city, country) if self.rng.random() < r["phone"] else None,
            photo_url=photo,
            company=company,
            last_refreshed_at=self.refreshed_at(),
            flaws=tuple(flaws),
        )

    def duplicate(self, original: Person) -> Person:
        """A second vendor record for ``original``'s real person, linked by LinkedIn slug or email."""
        by_email = original.email_kind == "valid" and (
            original.linkedin_slug is None or self.rng.random() < 0.4
        )
        title = original.title
        if original.title_kind == "target" and self.rng.random() < 0.3:
            title = title.replace("Senior ", "Sr. ") if "Senior " in title else f"Senior {title}"
        state = original.state_name
        if original.country == US and original.state == original.state_name:
            state = STATE_CODES[original.state_name]  # the other record spells the state the other way
        changes: dict = {
            "id": self.new_id(),
            "duplicate_of": original.id,
            "title": title,
            "state": state,
            "last_refreshed_at": self.refreshed_at(),
            "flaws": (*original.flaws, "duplicate"),
        }
        if by_email:
            changes.update(linkedin_slug=None, linkedin_form=0, email=original.email.lower())
        else:
            changes.update(linkedin_form=self.rng.randint(1, LINKEDIN_FORMS - 1))
            if self.rng.random() < 0.5:
                changes.update(email=None, email_kind="missing", email_status="unavailable")
        return Person(**{**asdict_shallow(original), **changes})

    # -- the run --------------------------------------------------------------------------

    def run(self) -> Population:
        companies = self.companies()
        patterns = {c.id: _weighted(self.rng, EMAIL_PATTERNS)[0] for c in companies}
        # A few employers are large, most are small: weight companies by a gentle power law.
        weights = [1.0 / (i + 5) ** 0.9 for i in range(len(companies))]
        n_dupes = min(self.size - 1, round(self.size * self.rates["duplicate"])) if self.size > 1 else 0
        employer_of = self.rng.choices(range(len(companies)), weights=weights, k=self.size - n_dupes)
        companies = self.place_gaps(companies, employer_of)
        base = [self.person(companies[i], patterns[companies[i].id]) for i in employer_of]
        candidates = [p for p in base if p.linkedin_slug or p.email_kind == "valid"]
        dupes = [self.duplicate(p) for p in self.rng.sample(candidates, min(n_dupes, len(candidates)))]
        people = sorted(base + dupes, key=lambda p: p.id)
        return Population(self.seed, self.size, self.rates, companies, people)


def ascii_fold_words(text: str) -> str:
    """Like :func:`ascii_fold` but keeps word breaks as spaces (for slugs and domains)."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return re.sub(r"[^a-z0-9]+", " ", text.encode("ascii", "ignore").decode().lower()).strip()


def asdict_shallow(obj) -> dict:
    """Field values of a dataclass without deep-copying nested dataclasses (asdict would)."""
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def stable_hash(*parts: object) -> int:
    """A process-independent hash (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest(), "big")
