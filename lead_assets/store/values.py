"""Column types of the store's tables and the conversions both dialects share.

Values go in as driver-ready Python (SQLite keeps timestamps as fixed-width ISO-8601 UTC
text, booleans as 0/1) and come back out with the same types on both dialects.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

INT_COLUMNS = frozenset({"company_size", "data_quality_score"})
BOOL_COLUMNS = frozenset({"is_qualified", "email_verified", "crm_synced", "needs_enrichment"})
TIMESTAMP_COLUMNS = frozenset(
    {
        "data_collected_date",
        "crm_sync_date",
        "created_at",
        "updated_at",
        "fetched_at",
        "first_seen_at",
        "called_at",
        "applied_at",
    }
)
# PostgreSQL types of the COPY staging tables (every other column is text).
PG_TYPES = {"company_size": "integer", "data_quality_score": "smallint"}
PG_TYPES.update(dict.fromkeys(BOOL_COLUMNS, "boolean"))
PG_TYPES.update(dict.fromkeys(TIMESTAMP_COLUMNS, "timestamptz"))

_TRUE_STRINGS = frozenset({"true", "t", "1", "yes", "y"})
_FALSE_STRINGS = frozenset({"false", "f", "0", "no", "n", ""})
_SQLITE_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"  # fixed width: text order == time order


def clean_text(value: Any) -> str:
    """`value` as text PostgreSQL and SQLite both accept: NULs dropped, lone surrogates replaced."""
    if not isinstance(value, str):
        value = str(value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates, e.g. from json.loads('"\\ud800"')
            value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def payload_text(value: Any) -> str:
    """A stored payload or reason as text: '' for missing, JSON (sorted keys) for dicts and lists."""
    if value is None or (not isinstance(value, (str, dict, list)) and pd.isna(value)):
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return clean_text(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE_STRINGS:
            return True
        if lowered in _FALSE_STRINGS:
            return False
        raise ValueError(f"not a boolean: {value!r}")
    return bool(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not an integer: {value!r}")
    return int(round(number))


def to_utc(value: Any) -> datetime | None:
    """A UTC-aware datetime for a datetime/Timestamp/ISO string (naive means UTC); None for NA."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def ts_param(value: Any, dialect: str) -> datetime | str | None:
    """A timestamp bind value for `dialect` (SQLite stores fixed-width ISO-8601 UTC text)."""
    stamp = to_utc(value)
    if stamp is None or dialect == "postgresql":
        return stamp
    return stamp.strftime(_SQLITE_TS_FORMAT)


def utc_now() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


def _column_values(series: pd.Series, column: str, dialect: str) -> list:
    """One DataFrame column as a list of driver-ready Python values (None for NA)."""
    missing = series.isna().to_numpy()
    if column in TIMESTAMP_COLUMNS:
        stamps = _to_utc_series(series)
        if dialect == "sqlite":
            values = stamps.dt.strftime(_SQLITE_TS_FORMAT).to_numpy(dtype=object)
        else:
            with warnings.catch_warnings():  # pandas 3 returns a Series here: iterates the same
                warnings.simplefilter("ignore", FutureWarning)
                values = stamps.dt.to_pydatetime()
        missing = stamps.isna().to_numpy()
        return [None if m else v for v, m in zip(values, missing, strict=True)]
    raw = series.to_numpy(dtype=object)
    if column in INT_COLUMNS:
        convert = _to_int
    elif column in BOOL_COLUMNS:
        convert = _to_bool
    else:
        convert = clean_text
        # Fast path: plain ASCII strings without NULs need no work.
        return [
            None if m else (v if type(v) is str and v.isascii() and "\x00" not in v else convert(v))
            for v, m in zip(raw, missing, strict=True)
        ]
    return [None if m else convert(v) for v, m in zip(raw, missing, strict=True)]


def _to_utc_series(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC")
    try:
        return pd.to_datetime(series, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return pd.to_datetime(series, utc=True, format="mixed")


def frame_rows(df: pd.DataFrame, columns: Sequence[str], dialect: str) -> list[tuple]:
    """`df[columns]` as a list of tuples of driver-ready values."""
    if not len(df):
        return []
    values = [_column_values(df[c], c, dialect) for c in columns]
    return list(zip(*values, strict=True))


def _from_db_value(column: str, value: Any) -> Any:
    # SQLite hands back timestamps as text and booleans as 0/1.
    if value is None:
        return None
    if column in TIMESTAMP_COLUMNS and isinstance(value, str):
        return datetime.fromisoformat(value)
    if column in BOOL_COLUMNS and isinstance(value, int):
        return bool(value)
    return value


def row_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A result row as a plain dict with the same Python types on both dialects."""
    return {k: _from_db_value(k, v) for k, v in row.items()}


def normalize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Give a frame read from either dialect the same dtypes (UTC timestamps, Int64, bool)."""
    for column in df.columns:
        if column in TIMESTAMP_COLUMNS:
            df[column] = pd.to_datetime(df[column], utc=True, format="ISO8601")
        elif column in INT_COLUMNS:
            df[column] = df[column].astype("Int64")
        elif column in BOOL_COLUMNS:
            df[column] = df[column].astype("boolean")
    return df
