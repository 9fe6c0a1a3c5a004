"""`DedupIndex`: dedup key -> lead_id, in Redis for speed, in the database for truth.

The `dedup_keys` table is the system of record; Redis is a cache of it that keeps
nothing on disk. Three rules keep the cache from ever causing a duplicate lead:

* `register` writes the database first (INSERT ... ON CONFLICT DO NOTHING), reads back the
  winners and only then writes Redis, and returns the winners: a caller that minted a new
  lead_id for a key someone else registered first learns the real one there.
* A Redis miss is trusted only while Redis is known to hold every key: the sentinel key
  `{ls:<sprint id>}:synced`, whose value fingerprints the database, travels in every MGET. If it is
  gone (Redis restarted or was flushed) or names another database, the sprint's keys are
  purged and re-warmed from `dedup_keys`; after a fallback it is re-warmed. Until then
  the database answers.
* Any Redis error switches to the database at once (short socket timeouts, no retry
  back-off), logged at WARNING and counted (`fallbacks`, `degraded_seconds`); Redis is tried
  again at most every `retry_interval` seconds.

Every key lives under the sprint's hash tag, `{ls:<sprint id>}`: two sprints with their own lead
stores on one Redis never read or purge each other's keys, and on a Redis Cluster the sentinel,
the keys of one MGET/MSET/DEL and the lock all sit in one slot (no CROSSSLOT by construction; one
sprint's index lives on one node). `REDIS_URL` may name a cluster or Sentinels (`store/redis_client`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import bindparam, text

from lead_assets.core.dedup_keys import KEY_PREFIX
from lead_assets.store.lead_store import LeadStore, ts_param, utc_now
from lead_assets.store.redis_client import (
    REDIS_ERRORS,
    describe,
    error_text,
    hash_tag,
    is_crossslot,
    redis_client,
)

REWARM_CHUNK = 10_000
WARM_LOCK_SECONDS = 600  # a re-warmer that dies holds others off (on the database) this long at most
# Delete the lock only if it is still ours (it may have expired and been taken over).
_RELEASE_LOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
REDIS_CHUNK = 10_000  # keys per MGET/MSET/DEL command, so no single command gets huge


# Registers the keys and answers the ones it did not insert (someone holds them already): in the
# usual batch of new people nothing comes back. ORDER BY: concurrent batches lock unique keys in
# the same order, so they wait for each other instead of deadlocking.
_PG_REGISTER = (
    "WITH ins AS (INSERT INTO dedup_keys (key, lead_id, kind, created_at) "
    "SELECT k, l, d, %(now)s FROM unnest(%(keys)s::text[], %(leads)s::text[], %(kinds)s::text[]) AS t(k, l, d) "
    "ORDER BY k ON CONFLICT (key) DO NOTHING RETURNING key) "
    "SELECT k FROM unnest(%(keys)s::text[]) AS k EXCEPT ALL SELECT key FROM ins"
)

_KIND_OF_PREFIX = {prefix: kind for kind, prefix in KEY_PREFIX.items()}


def key_kind(key: str) -> str:
    """The kind recorded for a key: 'linkedin', 'email' or 'vendor' for the keys of
    `core.dedup_keys` ('li:', 'em:', 'vid:'); otherwise the text before the first ':'."""
    prefix, sep, _ = key.partition(":")
    if not sep:
        return "other"
    return _KIND_OF_PREFIX.get(prefix + sep) or prefix or "other"


class DedupIndex:
    """Look up and register dedup keys; see the module docs for the consistency rules."""

    def __init__(
        self,
        store: LeadStore,
        redis_url: str | None,
        sprint_id: str | None = None,
        logger: logging.Logger | None = None,
        *,
        retry_interval: float = 5.0,
        socket_timeout: float = 0.5,
    ) -> None:
        self.store = store
        if sprint_id is None:
            from lead_assets.config.settings import sprint_config

            sprint_id = sprint_config().sprint_id
        self.sprint_id = sprint_id
        self.prefix = dedup_prefix(sprint_id)
        self.log = logger or logging.getLogger(__name__)
        self.retry_interval = retry_interval
        self.socket_timeout = socket_timeout
        self.sentinel = f"{self.prefix}:synced"
        self.warm_lock = f"{self.prefix}:warming"
        self.redis_url = redis_url
        self._degraded_since: float | None = None
        self._start_error: BaseException | None = None
        self._redis = self._connect(redis_url) if redis_url else None
        self.fingerprint = _database_fingerprint(store) if redis_url else ""
        self._mode = "database"  # what answers lookups: "redis" only once Redis is warmed
        self._degraded = False  # Redis failed and has not recovered since (one warning per outage)
        self._trusted = False  # Redis holds every key of dedup_keys
        self._needs_rewarm = False  # set by a fallback: keys may have been registered meanwhile
        self._next_attempt = 0.0
        self._unforgotten: set[str] = set()  # keys whose Redis DEL failed
        self._recover_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._counts = dict.fromkeys(
            ("redis_lookups", "db_lookups", "fallbacks", "rewarms", "keys_rewarmed", "crossslot_errors"), 0
        )
        self._degraded_total = 0.0
        if redis_url and self._redis is None:
            self._fall_back(f"Redis at {describe(redis_url)} unavailable at start: {error_text(self._start_error)}")
        if self._redis is not None:
            self._redis_usable()

    def _connect(self, redis_url: str):
        """A fail-fast client (plain, cluster or sentinel, from the URL), or None while it cannot connect."""
        try:
            return redis_client(redis_url, timeout=self.socket_timeout, decode_responses=True)
        except REDIS_ERRORS as exc:  # a cluster client bootstraps at once: every node may be down
            self._start_error = exc
            return None

    def _rkeys(self, keys: Sequence[str]) -> list[bytes]:
        """The Redis names of `keys` (`<prefix>:k:<key>`), encoded: a batch sends thousands, and
        formatting and encoding them one by one (in redis-py) costs more than Redis takes to answer."""
        return _encoded(keys, f"{self.prefix}:k:")

    # -- public API --

    @property
    def stats(self) -> dict:
        """mode, redis_lookups/db_lookups (keys answered by each), fallbacks, rewarms, keys_rewarmed,
        crossslot_errors (a bug if ever > 0), degraded_seconds (Redis configured but not answering)."""
        with self._stats_lock:
            degraded = self._degraded_total
            if self._degraded_since is not None:
                degraded += time.monotonic() - self._degraded_since
            return {"mode": self._mode, **self._counts, "degraded_seconds": round(degraded, 3)}

    def lookup(self, keys: Sequence[str]) -> dict[str, str]:
        """key -> lead_id for the known keys among `keys` (one MGET when Redis is trusted)."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        if self._redis_usable():
            try:
                values = []
                for start in range(0, len(keys), REDIS_CHUNK):
                    chunk = keys[start : start + REDIS_CHUNK]
                    # The sentinel rides along: no extra round trip to notice an emptied Redis.
                    reply = self._redis.mget([self.sentinel, *self._rkeys(chunk)])
                    if reply[0] != self.fingerprint:
                        raise _RedisEmptied()
                    values.extend(reply[1:])
            except REDIS_ERRORS as exc:
                self._redis_failed(exc)
            except _RedisEmptied:
                # Not an outage: re-warm on the very next call rather than after retry_interval.
                self._fall_back("Redis lost its keys (restart or flush)", retry_now=True)
            else:
                self._count("redis_lookups", len(keys))
                return {k: v for k, v in zip(keys, values, strict=True) if v is not None}
        return self._db_lookup(keys)

    def register(self, mapping: Mapping[str, str], kind: str | None = None, *, conn=None,
                 inserted: set[str] | None = None) -> dict[str, str]:
        """Register key -> lead_id pairs; return the authoritative lead_id of every key.

        A key registered earlier (by anyone) keeps its lead_id: callers must use the
        returned mapping, not their proposal. `kind` defaults to `key_kind(key)`.
        With `conn`, the keys are written in the caller's transaction (so they commit or
        roll back with the leads they point at) and the caller must `publish` the
        winners to Redis after its commit. `inserted`, when given, receives the keys this
        call wrote itself (PostgreSQL only; on SQLite it stays as it was).
        """
        proposal = {str(k): str(v) for k, v in mapping.items()}
        if not proposal:
            return {}
        if conn is not None:
            return self._register_rows(conn, proposal, kind, inserted)
        with self.store.transaction() as own:
            winners = self._register_rows(own, proposal, kind, inserted)
        self.publish(winners)
        return winners

    def _register_rows(self, conn, proposal: dict[str, str], kind: str | None,
                       inserted: set[str] | None = None) -> dict[str, str]:
        # In key order, so two transactions registering overlapping keys wait rather than deadlock.
        keys = sorted(proposal)
        kinds = [kind] * len(keys) if kind else [key_kind(k) for k in keys]
        now = ts_param(utc_now(), self.store.dialect)
        if self.store.dialect == "postgresql":
            # Three arrays in one statement: no staging table, no row-by-row COPY (a batch has
            # thousands of keys). The inserted keys name their own winner: read only the others.
            held = set(conn.exec_driver_sql(_PG_REGISTER, {
                "now": now, "keys": _pg_text_array(keys), "leads": _pg_text_array([proposal[k] for k in keys]),
                "kinds": _pg_text_array(kinds)}).scalars())
            won = {k: proposal[k] for k in keys if k not in held}
            if inserted is not None:
                inserted.update(won)
        else:
            rows = [(k, proposal[k], d, now) for k, d in zip(keys, kinds, strict=True)]
            self.store._insert_new(conn, "dedup_keys", ["key", "lead_id", "kind", "created_at"], rows, "key")
            won = {}
        rest = [k for k in proposal if k not in won]
        won.update(
            (r["key"], r["lead_id"])
            for r in self.store._in_chunks(conn, "SELECT key, lead_id FROM dedup_keys WHERE key {in_clause}", "keys", rest)
        )
        return won

    def publish(self, winners: Mapping[str, str]) -> None:
        """Copy committed key -> lead_id pairs into Redis (after the commit: a later re-warm reads them anyway)."""
        if self._redis_usable():
            try:
                self._mset(list(winners.items()))
            except REDIS_ERRORS as exc:
                self._redis_failed(exc)

    def forget(self, keys: Sequence[str]) -> int:
        """Delete keys from the database and Redis (erasure); return the database rows deleted."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return 0
        deleted = 0
        stmt = text("DELETE FROM dedup_keys WHERE key IN :keys").bindparams(bindparam("keys", expanding=True))
        with self.store.transaction() as conn:
            for chunk in _chunks(keys, 500):
                deleted += conn.execute(stmt, {"keys": chunk}).rowcount
        if self._redis is not None:
            # Tried even while in fallback: a stale entry would resurrect an erased key.
            try:
                self._delete_from_redis(keys)
            except REDIS_ERRORS as exc:
                self._unforgotten.update(keys)  # deleted on recovery, before anyone trusts Redis again
                self._redis_failed(exc)
        elif self.redis_url:
            self._unforgotten.update(keys)  # Redis never answered yet: deleted once it does
        return deleted

    def close(self) -> None:
        """Close the Redis connections (the store is the caller's to dispose)."""
        if self._redis is not None:
            self._redis.close()

    # -- Redis state machine --

    def _redis_usable(self) -> bool:
        """True when Redis may answer: warmed and believed complete (recovering if due)."""
        if not self.redis_url:
            return False
        if self._trusted:
            return True
        if time.monotonic() < self._next_attempt:
            return False
        if self._redis is None:  # never connected (a cluster down at start): try again now
            self._redis = self._connect(self.redis_url)
            if self._redis is None:
                self._fall_back(f"Redis unavailable: {error_text(self._start_error)}")
                return False
        # One thread recovers; the others use the database meanwhile instead of waiting.
        if not self._recover_lock.acquire(blocking=False):
            return False
        try:
            if self._trusted:
                return True
            return self._recover()
        finally:
            self._recover_lock.release()

    def _recover(self) -> bool:
        try:
            self._redis.ping()
            if self._unforgotten:
                self._delete_from_redis(sorted(self._unforgotten))
                self._unforgotten.clear()
            found = self._redis.get(self.sentinel)
            if found != self.fingerprint:
                if found is not None:
                    self.log.warning(
                        "dedup index: Redis keys %s were warmed from another lead store (%s, this one is %s): "
                        "do two sprints share the sprint id %r (or was the store recreated)? Purging and "
                        "re-warming from this store",
                        self.prefix, found, self.fingerprint, self.sprint_id,
                    )
                # Emptied, or filled from another database: purge and re-warm, one process
                # at a time, or a late purge could delete what another just warmed.
                token = uuid.uuid4().hex
                if not self._redis.set(self.warm_lock, token, nx=True, ex=WARM_LOCK_SECONDS):
                    self._next_attempt = time.monotonic() + min(self.retry_interval, 1.0)
                    return False  # another process is re-warming: the database answers meanwhile
                try:
                    if self._redis.get(self.sentinel) != self.fingerprint:
                        self._redis.delete(self.sentinel)  # nobody trusts a half-purged Redis
                        self._purge()
                        self._rewarm()
                    elif self._needs_rewarm:
                        self._rewarm()
                finally:
                    self._redis.eval(_RELEASE_LOCK, 1, self.warm_lock, token)
            elif self._needs_rewarm:
                # Additive only (MSET of database rows), so safe alongside other processes.
                self._rewarm()  # keys may have been registered in the database only meanwhile
        except REDIS_ERRORS as exc:
            if self._degraded:
                self.log.debug("dedup index: Redis still unavailable (%s)", error_text(exc))
            self._redis_failed(exc, "Redis unavailable")
            return False
        self._needs_rewarm = False
        self._trusted = True
        with self._stats_lock:
            self._mode = "redis"
            if self._degraded_since is not None:
                outage = time.monotonic() - self._degraded_since
                self._degraded_total += outage
                self._degraded_since = None
                self.log.warning("dedup index: Redis is back after %.1f s, lookups go through Redis again", outage)
        self._degraded = False
        return True

    def _rewarm(self) -> None:
        """Copy every dedup key from the database into Redis, then set the sentinel."""
        count = 0
        with self.store._read() as conn:
            result = conn.execution_options(stream_results=True, yield_per=REWARM_CHUNK).execute(
                text("SELECT key, lead_id FROM dedup_keys")
            )
            for part in result.partitions(REWARM_CHUNK):
                self._mset(part)
                count += len(part)
        self._redis.set(self.sentinel, self.fingerprint)
        self.log.info("dedup index: re-warmed Redis with %d keys from the database", count)
        self._count("rewarms", 1)
        self._count("keys_rewarmed", count)

    def _mset(self, pairs: Sequence[tuple[str, str]]) -> None:
        """MSET key -> lead_id pairs, REDIS_CHUNK at a time (MSET, not SETNX: the database just said
        what the value is), names and values encoded in bulk."""
        for start in range(0, len(pairs), REDIS_CHUNK):
            part = pairs[start : start + REDIS_CHUNK]
            flat: list[bytes] = [b""] * (2 * len(part))
            flat[0::2] = self._rkeys([k for k, _ in part])
            flat[1::2] = _encoded([v for _, v in part])
            self._redis.execute_command("MSET", *flat)

    def _redis_failed(self, exc: BaseException, what: str = "Redis error") -> None:
        if is_crossslot(exc):
            # Every key carries the sprint's hash tag, so this is a bug in the key names: say so loudly.
            self._count("crossslot_errors", 1)
            self.log.error("dedup index: CROSSSLOT from Redis Cluster (keys of %s span slots): %s; "
                           "this is a bug, please report it", self.prefix, error_text(exc))
        self._fall_back(f"{what}: {error_text(exc)}")

    def _fall_back(self, reason: str, retry_now: bool = False) -> None:
        """Stop trusting Redis until it is re-warmed; warn and count once per transition."""
        self._trusted = False
        self._needs_rewarm = True
        self._next_attempt = 0.0 if retry_now else time.monotonic() + self.retry_interval
        with self._stats_lock:
            transition = not self._degraded
            self._degraded = True
            self._mode = "database"
            if transition:
                self._counts["fallbacks"] += 1
                self._degraded_since = time.monotonic()
        if transition:
            self.log.warning("dedup index (sprint %s): %s; falling back to the database", self.sprint_id, reason)

    def _purge(self) -> None:
        """Delete every key of the namespace (SCAN, so Redis is never blocked for long)."""
        batch: list[str] = []
        for rkey in self._redis.scan_iter(match=f"{self.prefix}:k:*", count=REDIS_CHUNK):
            batch.append(rkey)
            if len(batch) >= REDIS_CHUNK:
                self._redis.delete(*batch)
                batch.clear()
        if batch:
            self._redis.delete(*batch)

    def _delete_from_redis(self, keys: Sequence[str]) -> None:
        for chunk in _chunks(list(keys), REDIS_CHUNK):
            self._redis.delete(*self._rkeys(chunk))

    # -- database side --

    def _db_lookup(self, keys: list[str]) -> dict[str, str]:
        with self.store._read() as conn:
            found = {
                r["key"]: r["lead_id"]
                for r in self.store._in_chunks(
                    conn, "SELECT key, lead_id FROM dedup_keys WHERE key {in_clause}", "keys", keys
                )
            }
        self._count("db_lookups", len(keys))
        return found

    def _count(self, name: str, n: int) -> None:
        with self._stats_lock:
            self._counts[name] += n


def dedup_prefix(sprint_id: str) -> str:
    """The hash tag every dedup key of the sprint starts with: `{ls:<sprint id>}`."""
    return hash_tag(f"ls:{sprint_id}")


def _database_fingerprint(store: LeadStore) -> str:
    """Names this database instance: a recreated database (new schema_version row) differs."""
    with store._read() as conn:
        applied = conn.execute(text("SELECT applied_at FROM schema_version WHERE version = 1")).scalar_one()
        name = (
            conn.execute(text("SELECT current_database()")).scalar_one()
            if store.dialect == "postgresql"
            else ""
        )
    # SQLite: the resolved path, so processes started from different directories agree.
    where = name or os.path.realpath(str(store.engine.url.database))
    return f"{store.dialect}:{where}:{applied}"


class _RedisEmptied(Exception):
    """The sentinel is gone: Redis no longer holds every key."""


def _pg_text_array(values: Sequence[str]) -> str:
    """A PostgreSQL text[] literal of `values` (cast with `::text[]`).

    One join and three replaces instead of the driver's per-element list dumping, which shows in
    profiles at thousands of keys a batch. Every element is double-quoted, so only a backslash and
    a double quote need escaping (when a value holds the joining newline, value by value).
    """
    body = "\n".join(values)
    if body.count("\n") != len(values) - 1:  # a newline inside a value (or no values): one by one
        return "{" + ",".join('"' + _array_escape(v) + '"' for v in values) + "}"
    return '{"' + _array_escape(body).replace("\n", '","') + '"}'


def _array_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _encoded(values: Sequence[str], prefix: str = "") -> list[bytes]:
    """`(prefix + v).encode()` for each value, in one join, encode and split when no value holds a newline."""
    body = "\n".join(values)
    if body.count("\n") != len(values) - 1:  # a newline inside a value: one by one
        return [(prefix + v).encode() for v in values]
    return (prefix + body.replace("\n", "\n" + prefix)).encode().split(b"\n")


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
