"""`lead-sprint backup` and `lead-sprint restore FILE`: the lead store's backups from a terminal.

Register both on the main parser with `add_maintenance_commands(sub)`. The work is in
`pipeline/backups.py`; see docs/backups.md for the procedure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy.engine import make_url

from lead_assets.config.settings import default_database_url
from lead_assets.pipeline import backups
from lead_assets.store.database import dialect_of, normalize_url


def add_maintenance_commands(sub: argparse._SubParsersAction) -> None:
    """Add `backup` and `restore` to the `lead-sprint` sub-command parser."""
    backup = sub.add_parser("backup", help="back up the lead store now (then prune old backups)")
    backup.add_argument("--database-url", help="the store to back up (default: LEADS_DATABASE_URL)")
    backup.add_argument("--dir", help="backup folder (default: LEADS_BACKUP_DIR or .lead_sprint/backups)")
    backup.add_argument("--keep-days", type=int, help="prune backups older than this (default: "
                        "LEADS_BACKUP_KEEP_DAYS or 7)")
    backup.add_argument("--no-prune", action="store_true", help="keep every older backup")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="restore a backup file into a named database")
    restore.add_argument("file", help="a backup file (lead_store-<db>-<stamp>.dump or .db)")
    target = restore.add_mutually_exclusive_group(required=True)
    target.add_argument("--database", metavar="NAME",
                        help="a database on the same server as LEADS_DATABASE_URL (SQLite: NAME.db beside it)")
    target.add_argument("--database-url", help="any target database URL")
    restore.add_argument("--no-create", action="store_true", help="fail when the target database is missing")
    restore.add_argument("--force", action="store_true",
                         help="allow restoring over the live store that LEADS_DATABASE_URL names")
    restore.set_defaults(func=cmd_restore)


def cmd_backup(args: argparse.Namespace) -> int:
    source = getattr(args, "database_url", None) or default_database_url()
    folder = Path(getattr(args, "dir", None) or backups.default_backup_dir())
    keep_days = getattr(args, "keep_days", None) or backups.default_keep_days()
    try:
        result = backups.backup_store(source, folder)
    except backups.BackupError as exc:
        raise SystemExit(f"lead-sprint backup: {exc}") from None
    print(f"backed up {result.database} with {result.method}")
    print(f"  {result.path}: {backups.human_bytes(result.bytes)} in {result.seconds:.2f}s, "
          f"{result.total_rows:,} rows in {len(result.tables)} tables")
    _print_tables(result.tables)
    if getattr(args, "no_prune", False):
        return 0
    pruned = backups.prune_backups(folder, keep_days, result.created_at)
    print(f"pruned {len(pruned)} backup(s) older than {keep_days} days"
          + "".join(f"\n  {p.name}" for p in pruned))
    return 0


def restore_target_url(args: argparse.Namespace) -> str:
    """The target URL of a restore: --database-url, or --database NAME beside LEADS_DATABASE_URL."""
    if getattr(args, "database_url", None):
        return args.database_url
    name = getattr(args, "database", None)
    if not name:
        raise SystemExit("lead-sprint restore: name the target with --database NAME or --database-url URL")
    live = default_database_url()
    if dialect_of(live) == "postgresql":
        return make_url(normalize_url(live)).set(database=name).render_as_string(hide_password=False)
    path = Path(make_url(live).database or "leads.db").expanduser()
    return f"sqlite:///{path.with_name(name if name.endswith('.db') else f'{name}.db')}"


def _same_database(a: str, b: str) -> bool:
    ua, ub = make_url(normalize_url(a)), make_url(normalize_url(b))
    if ua.get_backend_name() != ub.get_backend_name():
        return False
    if ua.get_backend_name() == "sqlite":
        return Path(ua.database or "").expanduser().resolve() == Path(ub.database or "").expanduser().resolve()
    return (ua.host or "localhost", ua.port or 5432, ua.database) == (ub.host or "localhost", ub.port or 5432,
                                                                      ub.database)


def cmd_restore(args: argparse.Namespace) -> int:
    target = restore_target_url(args)
    if _same_database(target, default_database_url()) and not getattr(args, "force", False):
        raise SystemExit(
            f"lead-sprint restore: {backups.redact(target)} is the live lead store (LEADS_DATABASE_URL); "
            "restore into another database and switch over, or pass --force"
        )
    try:
        result = backups.restore_backup(args.file, target, create=not getattr(args, "no_create", False))
    except backups.BackupError as exc:
        raise SystemExit(f"lead-sprint restore: {exc}") from None
    created = " (created)" if result.created else ""
    print(f"restored {result.path.name} into {result.target}{created} in {result.seconds:.2f}s")
    _print_tables(result.tables, result.expected_tables)
    if result.expected_tables is None:
        print("no manifest beside the backup: row counts not checked")
        return 0
    mismatches = result.mismatches()
    if mismatches:
        print(f"MISMATCH with the backup's manifest in {len(mismatches)} table(s): {', '.join(mismatches)}")
        return 1
    print("row counts match the backup's manifest")
    return 0


def _print_tables(tables: dict[str, int], expected: dict[str, int] | None = None) -> None:
    width = max((len(t) for t in tables), default=5)
    for table in sorted(tables):
        line = f"    {table:<{width}} {tables[table]:>10,}"
        if expected is not None:
            line += f"   (backup: {expected[table]:,})" if table in expected else "   (not in backup)"
        print(line)
