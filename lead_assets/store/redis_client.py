"""One Redis client factory for the dedup index and the rate limiters, chosen from `REDIS_URL`.

* `redis://` / `rediss://` / `unix://`: one Redis server (`redis.Redis.from_url`).
* `redis+cluster://[user:pass@]host:port[,host:port...]` (`rediss+cluster://` for TLS): a Redis
  Cluster, any reachable node bootstraps the topology (`redis.cluster.RedisCluster`, db 0 only).
* `redis+sentinel://[user:pass@]host:port[,host:port...]/service_name[/db]` (`rediss+sentinel://`:
  TLS to the master): the master that the Sentinels name (`redis.sentinel.Sentinel.master_for`),
  followed across fail-overs. The credentials are the master's; the Sentinels take none.

Every multi-key command and script of the project names keys of one hash tag (`hash_tag`), so on
a cluster they live in one slot and CROSSSLOT cannot happen; `is_crossslot` lets callers say so
loudly if it ever does. Clients fail fast (short timeouts, one immediate retry): the callers fall
back to the database or to in-process counting and report it, they never wait on Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import ClusterCrossSlotError, RedisClusterException, RedisError
from redis.retry import Retry
from redis.sentinel import Sentinel

# What a Redis call can raise: the cluster client's own exceptions are not RedisErrors.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, RedisClusterException)

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme -> TLS
SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
DEFAULT_PORTS = {"cluster": 6379, "sentinel": 26379}


@dataclass(frozen=True)
class RedisTarget:
    """What a `REDIS_URL` names: kind 'single' (url), 'cluster' (nodes) or 'sentinel' (nodes, service, db)."""

    kind: str
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False


def parse_redis_url(url: str) -> RedisTarget:
    """Parse a `REDIS_URL`; ValueError (naming the expected form, never the password) when malformed."""
    scheme = url.partition("://")[0].lower()
    if scheme not in CLUSTER_SCHEMES and scheme not in SENTINEL_SCHEMES:
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"REDIS_URL scheme {scheme!r} is not one of redis, rediss, unix, "
                             "redis+cluster, rediss+cluster, redis+sentinel, rediss+sentinel")
        return RedisTarget(kind="single", url=url)
    kind = "cluster" if scheme in CLUSTER_SCHEMES else "sentinel"
    # urlsplit cannot read a netloc holding several host:port pairs: split it by hand.
    rest = url.split("://", 1)[1]
    netloc, _, path_query = rest.partition("/")
    path, _, query = path_query.partition("?")
    if not query and "?" in netloc:
        netloc, _, query = netloc.partition("?")
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    nodes = tuple(_host_port(part, DEFAULT_PORTS[kind], kind) for part in hosts.split(",") if part.strip())
    if not nodes:
        raise ValueError(f"REDIS_URL ({kind}) names no host:port")
    segments = [unquote(s) for s in path.split("/") if s]
    service, db = None, 0
    if kind == "sentinel":
        if not segments or len(segments) > 2:
            raise ValueError("a sentinel REDIS_URL looks like redis+sentinel://host:port[,host:port]/service_name[/db]")
        service = segments[0]
        db = _db_number(segments[1]) if len(segments) == 2 else 0
    elif segments and segments != ["0"]:
        raise ValueError("a Redis Cluster has database 0 only: redis+cluster://host:port[,host:port]")
    params = parse_qs(query)
    if "db" in params:
        db = _db_number(params["db"][0])
    ssl = (CLUSTER_SCHEMES | SENTINEL_SCHEMES)[scheme]
    return RedisTarget(kind=kind, url=url, nodes=nodes, service=service, db=db,
                       username=unquote(username) or None, password=unquote(password) or None, ssl=ssl)


def redis_client(url: str, *, timeout: float = 0.5, decode_responses: bool = False):
    """A client for `url` (see the module docs) that fails fast. The cluster client connects at once."""
    target = parse_redis_url(url)
    common = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": decode_responses,
        "retry": Retry(NoBackoff(), 1),  # one immediate retry, for a stale socket
    }
    if target.kind == "single":
        return redis.Redis.from_url(url, **common)
    auth = {"username": target.username, "password": target.password}
    if target.kind == "cluster":
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
            ssl=target.ssl, **auth, **common,
        )
    sentinel = Sentinel(
        list(target.nodes),
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
        **common,
    )
    return sentinel.master_for(target.service, db=target.db, ssl=target.ssl, **auth)


def describe(url: str) -> str:
    """`url` for a log line: the password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{hosts}" if ":" in userinfo else url


def hash_tag(name: str) -> str:
    """`{name}`: every key that starts with it hashes to the same cluster slot."""
    if "{" in name or "}" in name:
        raise ValueError(f"a hash tag name cannot hold braces: {name!r}")
    return "{" + name + "}"


def same_slot(keys) -> bool:
    """True when every key of `keys` lives in one cluster slot (what a multi-key command needs)."""
    return len({key_slot(k.encode() if isinstance(k, str) else k) for k in keys}) <= 1


def is_crossslot(exc: BaseException) -> bool:
    """A CROSSSLOT refusal (from a node, or the cluster client's own check): a bug in the key names."""
    if isinstance(exc, ClusterCrossSlotError):
        return True
    text = str(exc)
    return "CROSSSLOT" in text or "same key slot" in text or "same slot" in text


def error_text(exc: BaseException) -> str:
    """`Type: message` for a log line (redis-py's own repr drops the message)."""
    return f"{type(exc).__name__}: {exc}"


def _host_port(part: str, default_port: int, kind: str) -> tuple[str, int]:
    # urlsplit reads one host:port (brackets for IPv6) and checks the port.
    parsed = urlsplit(f"//{part.strip()}")
    try:
        port = parsed.port or default_port
    except ValueError:
        raise ValueError(f"REDIS_URL ({kind}): bad port in {part.strip()!r}") from None
    if not parsed.hostname:
        raise ValueError(f"REDIS_URL ({kind}): no host in {part.strip()!r}")
    return parsed.hostname, port


def _db_number(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"REDIS_URL: database {text!r} must be a number")
    return int(text)
