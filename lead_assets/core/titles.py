"""Map vendor job titles onto the sprint's target roles.

A title matches a role when one of the role's aliases occurs in it as whole words,
ignoring case and punctuation ("Sr. PPC Manager, North America" -> "PPC Manager").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from lead_assets.config.settings import SprintConfig, TargetRole
from lead_assets.core.normalise import map_distinct

# Anything that is not a letter or digit separates words: "pay-per-click" == "pay per click".
_SEPARATORS = re.compile(r"[\W_]+")
# Only the start of a title is searched: a title longer than this is invalid anyway, and
# the alternation is tried at every word start.
MAX_TITLE_CHARS = 500


def title_words(text: str) -> str:
    """Lower-case words of `text` joined by single spaces."""
    return " ".join(_SEPARATORS.split(text.casefold())).strip()


class TitleMatcher:
    """Holds the alias -> role table of the target roles and one compiled regex over it.

    Each role's own name counts as an alias. When several aliases occur in a title the
    longest wins (ties: the earliest in the title, then the first role in the config).
    """

    def __init__(self, roles: Sequence[TargetRole]):
        self.roles: tuple[TargetRole, ...] = tuple(roles)
        self._role_of: dict[str, str] = {}
        for role in self.roles:
            for alias in (role.role, *role.aliases):
                key = title_words(alias)
                if key:
                    self._role_of.setdefault(key, role.role)
        aliases = sorted(self._role_of, key=len, reverse=True)
        # A zero-width match at every word start captures the longest alias starting there
        # (longest first in the alternation); overlapping candidates are all seen.
        alternation = "|".join(re.escape(a) for a in aliases) or r"(?!x)x"
        self._pattern = re.compile(rf"(?<!\S)(?=({alternation})(?!\S))")

    @classmethod
    def from_config(cls, cfg: SprintConfig) -> TitleMatcher:
        """Matcher for the target roles of the sprint brief `cfg`."""
        return cls(cfg.target_roles)

    @property
    def role_names(self) -> tuple[str, ...]:
        return tuple(r.role for r in self.roles)

    def match(self, title: object) -> str | None:
        """Role name whose alias occurs in `title` as whole words, or None."""
        if not isinstance(title, str):
            return None
        text = title_words(title[:MAX_TITLE_CHARS])
        best: str | None = None
        for m in self._pattern.finditer(text):
            alias = m.group(1)
            if best is None or len(alias) > len(best):
                best = alias
        return self._role_of[best] if best is not None else None

    def match_series(self, s: pd.Series) -> pd.Series:
        """`match` over a Series (object dtype, None when no role); each distinct title once."""
        return map_distinct(s, self.match)
