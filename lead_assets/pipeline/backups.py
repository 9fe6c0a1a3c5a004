"""Back up, prune and restore the lead store; fingerprint its tables to prove a restore.

PostgreSQL: `pg_dump -Fc` (custom format, compressed) run inside an exported snapshot, so
the row counts recorded with the backup are exactly those of the dump; restored with
`pg_restore --no-owner --clean --if-exists --single-transaction` into a named database.
SQLite: a consistent copy through sqlite3's online backup API (safe while the store is
being written), restored the same way in reverse.

Connection parameters reach pg_dump/pg_restore through the environment (PGHOST, PGPORT,
PGUSER, PGPASSWORD, PGDATABASE, ...): the password is never on a command line (visible to
every local user in `ps`), in a log line or in an exception message.

Each backup `lead_store-<database>-<UTC stamp>.<dump|db>` has a JSON sidecar
(`<file>.json`) with the row count of every table at backup time, so a restore can be
checked without the source. Nothing here imports Dagster.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from lead_assets.config.settings import STATE_DIR
from lead_assets.store.database import create_store_engine, dialect_of, normalize_url
from lead_assets.store.files import FileStorage, LocalStorage, sprint_storage

log = logging.getLogger(__name__)

BACKUP_DIR_ENV = "LEADS_BACKUP_DIR"
KEEP_DAYS_ENV = "LEADS_BACKUP_KEEP_DAYS"
DEFAULT_KEEP_DAYS = 7

PG_METHOD = "pg_dump -Fc (custom format, one exported snapshot)"
SQLITE_METHOD = "sqlite3 online backup API (consistent copy)"

_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
BACKUP_NAME_RE = re.compile(r"^lead_store-(?P<name>.+)-(?P<stamp>\d{8}T\d{6}Z)\.(?P<ext>dump|db)$")
_PG_MAGIC = b"PGDMP"
_SQLITE_MAGIC = b"SQLite format 3\x00"

# libpq connection parameters that may arrive as URL query arguments, and their env vars.
_LIBPQ_QUERY_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "service": "PGSERVICE",
    "passfile": "PGPASSFILE",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "channel_binding": "PGCHANNELBINDING",
}


class BackupError(RuntimeError):
    """A backup, restore or fingerprint failed; the message never carries a password."""


@dataclass(frozen=True)
class BackupResult:
    """One backup file and what it holds."""

    path: Path
    bytes: int
    seconds: float
    tables: dict[str, int]
    dialect: str = "postgresql"
    method: str = PG_METHOD
    database: str = ""  # the source URL, password hidden
    created_at: datetime | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())


@dataclass(frozen=True)
class RestoreResult:
    """What a restore wrote where, and whether it matches the backup's manifest."""

    path: Path
    target: str  # the target URL, password hidden
    database: str  # database name (PostgreSQL) or file path (SQLite)
    created: bool
    seconds: float
    tables: dict[str, int]
    expected_tables: dict[str, int] | None = field(default=None)

    def mismatches(self) -> dict[str, tuple[int | None, int | None]]:
        """Tables whose restored row count differs from the manifest: name -> (expected, restored)."""
        if self.expected_tables is None:
            return {}
        names = set(self.expected_tables) | set(self.tables)
        return {
            n: (self.expected_tables.get(n), self.tables.get(n))
            for n in sorted(names)
            if self.expected_tables.get(n) != self.tables.get(n)
        }


# --- settings ---------------------------------------------------------------------------


def default_backup_storage() -> FileStorage:
    """`LEADS_BACKUP_DIR` (a folder), else `backups/` of the sprint's storage (LEAD_SPRINT_STORAGE_URL)."""
    folder = os.environ.get(BACKUP_DIR_ENV)
    return LocalStorage(folder) if folder else sprint_storage().child("backups")


def default_backup_dir() -> Path:
    """The folder of `default_backup_storage()` (`.lead_sprint/backups` by default); with an object store,
    `.lead_sprint/backups` on this host (the CLI's copies)."""
    return default_backup_storage().local_root or STATE_DIR / "backups"


def backup_to_storage(database_url: str, storage: FileStorage, now: datetime | None = None
                      ) -> tuple[BackupResult, str]:
    """`backup_store` into `storage` (written locally, then stored whole); returns the result and where it is."""
    with storage.staging() as folder:
        result = backup_store(database_url, folder, now)
    return result, storage.location(result.path.name)


def prune_stored_backups(storage: FileStorage, keep_days: int, now: datetime | None = None) -> list[str]:
    """`prune_backups` on a storage: the names of the backups deleted (same rules, by file name)."""
    if storage.local_root is not None:
        return [p.name for p in prune_backups(storage.local_root, keep_days, now)]
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1, got {keep_days}")
    cutoff = (now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=keep_days)
    names = sorted((f.name for f in storage.list() if "/" not in f.name and backup_time(f.name)),
                   key=lambda n: (backup_time(n), n))
    newest = {BACKUP_NAME_RE.match(n).group("name"): n for n in names}
    deleted = [n for n in names if backup_time(n) < cutoff and n not in newest.values()]
    for name in deleted:
        storage.delete(name)
        storage.delete(name + ".json")
        log.info("pruned backup %s (older than %d days)", name, keep_days)
    return deleted


def default_keep_days() -> int:
    """`LEADS_BACKUP_KEEP_DAYS`, else 7."""
    return int(os.environ.get(KEEP_DAYS_ENV) or DEFAULT_KEEP_DAYS)


# --- URLs and secrets -------------------------------------------------------------------


def redact(url: str) -> str:
    """`url` with its password replaced by ***."""
    try:
        parsed = make_url(normalize_url(url))
        if parsed.get_backend_name() == "postgresql":
            parsed = parsed.set(drivername="postgresql")
        return parsed.render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as nothing rather than leaked
        return "<unparsable database URL>"


def _secrets(url: URL) -> list[str]:
    """The password as it may appear in text: decoded and URL-encoded."""
    if not url.password:
        return []
    from urllib.parse import quote, quote_plus

    raw = str(url.password)
    return sorted({raw, quote(raw, safe=""), quote_plus(raw)}, key=len, reverse=True)


def _scrub(message: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message


def _pg_url(database_url: str) -> URL:
    url = make_url(normalize_url(database_url))
    if url.get_backend_name() != "postgresql":
        raise BackupError(f"not a PostgreSQL URL: {redact(database_url)}")
    if not url.database:
        raise BackupError(f"the URL names no database: {redact(database_url)}")
    return url


def pg_env(url: URL, database: str | None = None) -> dict[str, str]:
    """The environment for a libpq client tool: this process's, plus the URL's parameters."""
    env = dict(os.environ)
    params: dict[str, str] = {}
    for key, value in url.query.items():
        var = _LIBPQ_QUERY_ENV.get(key)
        if var:
            params[var] = value if isinstance(value, str) else str(value[-1])
    if url.host:
        params["PGHOST"] = url.host
    if url.port:
        params["PGPORT"] = str(url.port)
    if url.username:
        params["PGUSER"] = url.username
    if url.password:
        params["PGPASSWORD"] = str(url.password)
    params["PGDATABASE"] = database or url.database or ""
    env.update(params)
    return env


def _describe(exc: BaseException) -> str:
    """The driver's own message (SQLAlchemy wraps it with the statement and a help link)."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


def _conninfo_dbname(name: str) -> str:
    """`dbname='...'` for a tool's --dbname (a bare name containing '=' would be read as a conninfo)."""
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run_tool(argv: list[str], env: dict[str, str], secrets: list[str], what: str) -> subprocess.CompletedProcess:
    log.info("running %s", " ".join(argv))  # argv holds no secret: the password is in env only
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(
            f"{argv[0]} not found on PATH: install the PostgreSQL client tools "
            f"(same major version as the server or newer)"
        ) from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or "").strip().splitlines()[-8:])
        raise BackupError(_scrub(f"{what} failed (exit {done.returncode}): {tail}", secrets))
    return done


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- backup -----------------------------------------------------------------------------


def backup_filename(database_name: str, ext: str, when: datetime) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.]+", "_", database_name).strip("_.") or "leads"
    return f"lead_store-{safe}-{when.astimezone(UTC).strftime(_STAMP_FORMAT)}.{ext}"


def backup_store(database_url: str, backup_dir: str | os.PathLike, now: datetime | None = None) -> BackupResult:
    """Back up the lead store at `database_url` into `backup_dir`; returns the file and its row counts.

    The file appears under its final name only once complete (written as `.partial`, then
    renamed), so a failed backup never leaves something that looks restorable.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    folder = Path(backup_dir)
    folder.mkdir(parents=True, exist_ok=True)
    dialect = dialect_of(database_url)
    started = time.monotonic()
    if dialect == "postgresql":
        url = _pg_url(database_url)
        target = folder / backup_filename(url.database, "dump", now)
        tables = _pg_backup(database_url, url, target)
        method = PG_METHOD
    else:
        source = _sqlite_path(database_url)
        if not source.exists():
            raise BackupError(f"SQLite database {source} does not exist")
        target = folder / backup_filename(source.stem, "db", now)
        tables = _sqlite_backup(source, target)
        method = SQLITE_METHOD
    seconds = time.monotonic() - started
    result = BackupResult(
        path=target,
        bytes=target.stat().st_size,
        seconds=round(seconds, 3),
        tables=tables,
        dialect=dialect,
        method=method,
        database=redact(database_url),
        created_at=now,
    )
    _write_manifest(result)
    log.info("backed up %s to %s (%d bytes, %.2fs)", result.database, target, result.bytes, seconds)
    return result


def _pg_backup(database_url: str, url: URL, target: Path) -> dict[str, int]:
    partial = target.with_name(target.name + ".partial")
    engine = create_store_engine(database_url)
    try:
        # Export a snapshot, count rows in it, and dump that very snapshot: the counts are
        # the dump's, even while collection keeps writing.
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                tables = _pg_row_counts(conn)
                argv = ["pg_dump", "--format=custom", "--no-password", f"--snapshot={snapshot}",
                        f"--file={partial}"]
                _run_tool(argv, pg_env(url), _secrets(url), f"pg_dump of {redact(database_url)}")
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    except Exception as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(_scrub(f"backup of {redact(database_url)} failed: {_describe(exc)}", _secrets(url))) from None
    finally:
        engine.dispose()
    os.replace(partial, target)
    return tables


def _pg_tables(conn) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                "AND table_type = 'BASE TABLE' ORDER BY table_name"
            )
        ).scalars()
    )


def _pg_row_counts(conn) -> dict[str, int]:
    tables = _pg_tables(conn)
    if not tables:
        return {}
    sql = " UNION ALL ".join(
        f"SELECT CAST(:t{i} AS text), count(*) FROM {_quote_ident(t)}" for i, t in enumerate(tables)
    )
    rows = conn.execute(text(sql), {f"t{i}": t for i, t in enumerate(tables)}).all()
    return {name: int(count) for name, count in rows}


def _sqlite_path(database_url: str) -> Path:
    database = make_url(normalize_url(database_url)).database or ""
    if database in ("", ":memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up or restored into")
    return Path(database).expanduser()


def _sqlite_backup(source: Path, target: Path) -> dict[str, int]:
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        # pages=-1: one step under one read lock, i.e. one consistent snapshot even while
        # other connections write (WAL readers never block writers).
        src.backup(dst, pages=-1)
        # A backup is one self-contained file: no -wal/-shm sidecars.
        dst.execute("PRAGMA journal_mode = DELETE")
        tables = _sqlite_row_counts(dst)
    except sqlite3.Error as exc:
        dst.close()
        partial.unlink(missing_ok=True)
        raise BackupError(f"SQLite backup of {source} failed: {exc}") from exc
    finally:
        src.close()
    dst.close()
    os.replace(partial, target)
    return tables


def _sqlite_readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    return [r[0] for r in rows]


def _sqlite_row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {_quote_ident(t)}").fetchone()[0] for t in _sqlite_tables(conn)}


def manifest_path(backup_path: str | os.PathLike) -> Path:
    path = Path(backup_path)
    return path.with_name(path.name + ".json")


def _write_manifest(result: BackupResult) -> None:
    body = {
        "file": result.path.name,
        "bytes": result.bytes,
        "seconds": result.seconds,
        "dialect": result.dialect,
        "method": result.method,
        "database": result.database,
        "created_at": result.created_at.isoformat() if result.created_at else None,
        "tables": result.tables,
    }
    manifest_path(result.path).write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")


def read_manifest(backup_path: str | os.PathLike) -> dict[str, Any] | None:
    """The JSON sidecar written with a backup, or None when there is none."""
    path = manifest_path(backup_path)
    if not path.exists():
        return None
    return json.loads(path.read_text())


# --- prune ------------------------------------------------------------------------------


def backup_time(path: str | os.PathLike) -> datetime | None:
    """When a backup file was taken, from its name; None for any other file."""
    match = BACKUP_NAME_RE.match(Path(path).name)
    if not match:
        return None
    return datetime.strptime(match.group("stamp"), _STAMP_FORMAT).replace(tzinfo=UTC)


def list_backups(backup_dir: str | os.PathLike) -> list[Path]:
    """The backup files in `backup_dir`, oldest first."""
    folder = Path(backup_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and backup_time(p) is not None]
    return sorted(found, key=lambda p: (backup_time(p), p.name))


def prune_backups(backup_dir: str | os.PathLike, keep_days: int, now: datetime | None = None) -> list[Path]:
    """Delete backups taken more than `keep_days` days before `now`; return the files deleted.

    Only files named like this module's backups are considered (anything else in the
    folder is left alone), their age comes from the name (not the mtime, which a copy
    resets), and the newest backup of each database is always kept, so a week without
    successful backups never leaves none.
    """
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1, got {keep_days}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    cutoff = now - timedelta(days=keep_days)
    backups = list_backups(backup_dir)
    newest: dict[str, Path] = {}
    for path in backups:  # oldest first: the last one seen per database is its newest
        newest[BACKUP_NAME_RE.match(path.name).group("name")] = path
    deleted: list[Path] = []
    for path in backups:
        if backup_time(path) < cutoff and path not in newest.values():
            path.unlink(missing_ok=True)
            manifest_path(path).unlink(missing_ok=True)
            deleted.append(path)
            log.info("pruned backup %s (older than %d days)", path.name, keep_days)
    return deleted


# --- restore ----------------------------------------------------------------------------


def backup_dialect(path: str | os.PathLike) -> str:
    """'postgresql' for a pg_dump custom-format file, 'sqlite' for a SQLite file."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(_PG_MAGIC):
        return "postgresql"
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    raise BackupError(f"{path} is neither a pg_dump custom-format file nor a SQLite database")


def restore_backup(path: str | os.PathLike, target_database_url: str, *, create: bool = True) -> RestoreResult:
    """Restore the backup at `path` into the database `target_database_url` names.

    PostgreSQL: `pg_restore --no-owner --clean --if-exists --single-transaction`: the
    objects of the dump replace their namesakes all at once or not at all; the database is
    created first when missing and `create` is true. SQLite: the file is copied over the
    target through the online backup API (safe even when the target is open elsewhere).
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"backup file {path} does not exist")
    kind = backup_dialect(path)
    target_dialect = dialect_of(target_database_url)
    if kind != target_dialect:
        raise BackupError(f"{path.name} is a {kind} backup; it cannot be restored into {target_dialect}")
    manifest = read_manifest(path)
    expected = manifest.get("tables") if manifest else None
    started = time.monotonic()
    if kind == "postgresql":
        url = _pg_url(target_database_url)
        created = _pg_restore(path, url, create=create)
        database = url.database
        tables = _counts(target_database_url)
    else:
        target = _sqlite_path(target_database_url)
        created = not target.exists()
        if created and not create:
            raise BackupError(f"SQLite database {target} does not exist (create=False)")
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_restore(path, target)
        database = str(target)
        tables = _counts(target_database_url)
    return RestoreResult(
        path=path,
        target=redact(target_database_url),
        database=database,
        created=created,
        seconds=round(time.monotonic() - started, 3),
        tables=tables,
        expected_tables=expected,
    )


def _pg_restore(path: Path, url: URL, *, create: bool) -> bool:
    secrets = _secrets(url)
    created = False
    try:
        exists = _pg_database_exists(url)
        if not exists:
            if not create:
                raise BackupError(f"database {url.database!r} does not exist (create=False)")
            _pg_create_database(url)
            created = True
    except BackupError:
        raise
    except Exception as exc:
        raise BackupError(_scrub(f"preparing {redact(url.render_as_string(False))}: {_describe(exc)}", secrets)) from None
    argv = [
        "pg_restore", "--no-owner", "--clean", "--if-exists", "--single-transaction", "--no-password",
        f"--dbname={_conninfo_dbname(url.database)}", str(path),
    ]
    try:
        _run_tool(argv, pg_env(url), secrets, f"pg_restore of {path.name} into {url.database!r}")
    except BackupError:
        if created:  # leave the server as we found it, not with an empty look-alike database
            _pg_drop_database(url)
        raise
    return created


def _pg_admin_kwargs(url: URL, dbname: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"dbname": dbname, "connect_timeout": 10}
    for key, value in url.query.items():
        if key in _LIBPQ_QUERY_ENV:
            kwargs[key] = value if isinstance(value, str) else value[-1]
    for key, value in (("host", url.host), ("port", url.port), ("user", url.username),
                       ("password", url.password)):
        if value:
            kwargs[key] = str(value)
    return kwargs


def _pg_maintenance_db(url: URL) -> str:
    return "postgres" if url.database != "postgres" else "template1"


def _pg_database_exists(url: URL) -> bool:
    # Ask the target itself first: a managed server may not let this role into `postgres`.
    import psycopg

    try:
        with psycopg.connect(**_pg_admin_kwargs(url, url.database)):
            return True
    except psycopg.OperationalError as exc:
        if f'database "{url.database}" does not exist' in str(exc):
            return False
        raise


def _pg_create_database(url: URL) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(**_pg_admin_kwargs(url, _pg_maintenance_db(url)), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database)))
    log.info("created database %s", url.database)


def _pg_drop_database(url: URL) -> None:
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(**_pg_admin_kwargs(url, _pg_maintenance_db(url)), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(url.database)))
    except psycopg.Error as exc:
        log.warning("could not drop database %s after a failed restore: %s", url.database,
                    _scrub(_describe(exc), _secrets(url)))


def _sqlite_restore(path: Path, target: Path) -> None:
    src = _sqlite_readonly(path)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst, pages=-1)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite restore of {path.name} into {target} failed: {exc}") from exc
    finally:
        src.close()
        dst.close()


# --- verification -----------------------------------------------------------------------


def _counts(database_url: str) -> dict[str, int]:
    return {name: rows for name, (rows, _) in table_fingerprints(database_url, checksums=False).items()}


def table_fingerprints(database_url: str, *, checksums: bool = True) -> dict[str, tuple[int, str]]:
    """Every table of the store: (row count, checksum of its content).

    The checksum is md5 over the md5 of each row's text, rows ordered by primary key (by
    the whole row when there is none). Hashing rows first keeps the aggregate 32 bytes a
    row, so a large `raw_landings` never hits PostgreSQL's 1 GB value limit. PostgreSQL
    computes it in SQL (`t::text` in a UTC session); SQLite in Python. Two databases of
    the same dialect with equal fingerprints hold the same rows; fingerprints of different
    dialects are not comparable. `checksums=False` counts only (checksum '').
    """
    dialect = dialect_of(database_url)
    if dialect == "postgresql":
        url = _pg_url(database_url)
        engine = create_store_engine(database_url)
        try:
            with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
                with conn.begin():
                    return {t: _pg_fingerprint(conn, t, checksums) for t in _pg_tables(conn)}
        except Exception as exc:
            raise BackupError(_scrub(f"fingerprinting {redact(database_url)}: {_describe(exc)}", _secrets(url))) from None
        finally:
            engine.dispose()
    path = _sqlite_path(database_url)
    if not path.exists():
        raise BackupError(f"SQLite database {path} does not exist")
    conn = _sqlite_readonly(path)
    try:
        return {t: _sqlite_fingerprint(conn, t, checksums) for t in _sqlite_tables(conn)}
    finally:
        conn.close()


def _pg_primary_key(conn, table: str) -> list[str]:
    sql = text(
        """SELECT a.attname FROM pg_index i
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
           WHERE i.indrelid = CAST(:t AS regclass) AND i.indisprimary
           ORDER BY array_position(CAST(i.indkey AS int2[]), a.attnum)"""
    )
    return list(conn.execute(sql, {"t": _quote_ident(table)}).scalars())


def _pg_fingerprint(conn, table: str, checksums: bool) -> tuple[int, str]:
    quoted = _quote_ident(table)
    if not checksums:
        return int(conn.execute(text(f"SELECT count(*) FROM {quoted}")).scalar_one()), ""
    pk = _pg_primary_key(conn, table)
    order = ", ".join(f"t.{_quote_ident(c)}" for c in pk) if pk else "t::text"
    count, digest = conn.execute(
        text(f"SELECT count(*), md5(coalesce(string_agg(md5(t::text), ',' ORDER BY {order}), '')) FROM {quoted} t")
    ).one()
    return int(count), digest


def _sqlite_fingerprint(conn: sqlite3.Connection, table: str, checksums: bool) -> tuple[int, str]:
    quoted = _quote_ident(table)
    if not checksums:
        return conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0], ""
    info = conn.execute(f"PRAGMA table_info({quoted})").fetchall()  # cid, name, type, notnull, default, pk
    pk = [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    order = f" ORDER BY {', '.join(_quote_ident(c) for c in pk)}" if pk else ""
    hashes = [_row_md5(row) for row in conn.execute(f"SELECT * FROM {quoted}{order}")]
    if not pk:
        hashes.sort()
    return len(hashes), hashlib.md5(",".join(hashes).encode()).hexdigest()


def _row_md5(row: tuple) -> str:
    return hashlib.md5(json.dumps(row, default=_json_default, ensure_ascii=False).encode()).hexdigest()


def _json_default(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def compare_fingerprints(
    left: Mapping[str, tuple[int, str]], right: Mapping[str, tuple[int, str]]
) -> dict[str, tuple[tuple[int, str] | None, tuple[int, str] | None]]:
    """Tables whose fingerprints differ (or exist on one side only): name -> (left, right)."""
    return {
        name: (left.get(name), right.get(name))
        for name in sorted(set(left) | set(right))
        if left.get(name) != right.get(name)
    }


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


__all__ = [
    "BackupError",
    "BackupResult",
    "RestoreResult",
    "backup_store",
    "compare_fingerprints",
    "default_backup_dir",
    "default_keep_days",
    "list_backups",
    "prune_backups",
    "restore_backup",
    "table_fingerprints",
]
