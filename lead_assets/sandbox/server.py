"""The sandbox HTTP server: one loopback port, a router to per-vendor apps, and admin endpoints.

Layout of the URL space (``{url}`` is :attr:`SandboxServer.base_url`):

* ``{url}/<vendor>/...``: a vendor's API under its own mount, e.g. ``{url}/apollo/api/v1/...``.
  Point a client's base URL here; it never collides with another vendor's paths.
* ``{url}/api/v1/...`` etc.: the same apps also answer at the vendor's own paths (longest prefix
  wins), for clients whose base URL is just a host.
* ``{url}/__sandbox/...``: admin endpoints (health, stats, reset, config, ground truth,
  population summary). They bypass auth, rate limits and faults.

Each request to a vendor goes: fault plan -> vendor app (auth, limits, handler) -> optional
malformed-body fault -> latency -> stats. The latency is the vendor's time to answer: like a real
API gateway, the sandbox counts a request against the rate limits when it arrives, not when its
answer is ready. A bug in a handler answers 500 and is logged; it never
takes the server thread down.

Vendor apps live in their own modules, each exposing ``create_app(ctx)`` and optionally
``DEFAULT_LIMITS`` / ``DEFAULT_KEYS`` (that vendor's entries); every such module in this package
is mounted, so adding a vendor means adding a module.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import ipaddress
import json
import logging
import os
import re
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from .faults import FAULT_DEFAULTS, FAULT_KINDS, FaultInjector, truncate_json
from .population import FLAW_DEFAULTS, Population
from .ratelimit import FixedWindowLimiter

log = logging.getLogger("lead_assets.sandbox")

# Modules of this package that are plumbing, not vendors.
_NOT_VENDORS = frozenset({"__init__", "__main__", "server", "population", "ratelimit", "faults", "launcher"})


def vendor_modules() -> list:
    """Every vendor module of the sandbox package (one exposing ``create_app``), by name."""
    package_dir = Path(__file__).resolve().parent
    names = sorted(p.stem for p in package_dir.glob("*.py") if p.stem not in _NOT_VENDORS)
    modules = [importlib.import_module(f"{__package__}.{name}") for name in names]
    return [m for m in modules if hasattr(m, "create_app")]

ADMIN_PREFIX = "/__sandbox/"
_QUERY_SECRET = re.compile(r"([?&](?:key|api_key|apikey|token|access_token|password|secret)=)[^&\s\"]+", re.I)


# --------------------------------------------------------------------------------------------
# Configuration.
# --------------------------------------------------------------------------------------------


def _default_limits() -> dict:
    # Each vendor module declares its own (e.g. Apollo's Professional plan, docs 2026).
    return {m.__name__.rsplit(".", 1)[1]: copy.deepcopy(m.DEFAULT_LIMITS)
            for m in vendor_modules() if hasattr(m, "DEFAULT_LIMITS")}


def _default_keys() -> dict:
    return {m.__name__.rsplit(".", 1)[1]: copy.deepcopy(m.DEFAULT_KEYS)
            for m in vendor_modules() if hasattr(m, "DEFAULT_KEYS")}


@dataclass
class SandboxConfig:
    """Everything that shapes the sandbox's behaviour. All but seed/population/flaws can change live.

    ``faults`` maps ``"*"`` or a vendor name to settings (see :mod:`.faults`); ``limits`` maps
    vendor -> endpoint class -> window name -> allowance (None = unlimited); ``windows`` maps
    window names to lengths in seconds; ``keys`` maps vendor -> ``{"valid": [...],
    "non_master": [...]}``; ``latency`` is milliseconds added to every vendor response;
    ``flaws`` overrides the population's flaw rates (see ``population.FLAW_DEFAULTS``);
    ``population`` is a number of records or a profile name (``population.POPULATION_PROFILES``:
    ``"full"`` is the full 24-hour sprint's world).
    """

    seed: int = 7
    population: int | str = 6000
    search_cap: int = 50_000  # Apollo's display limit: rows reachable through paging
    search_beyond_cap: str = "empty"  # "empty" -> 200 with no people; "422" -> 422 Invalid parameters
    send_retry_after: bool = True  # Retry-After on rate-limit 429s (UNCONFIRMED for Apollo)
    linkedin_variant_rate: float = 0.3  # share of enrichment answers with a non-usual LinkedIn URL form
    faults: dict = field(default_factory=lambda: {"*": {}})
    limits: dict = field(default_factory=_default_limits)
    windows: dict = field(default_factory=lambda: {"minute": 60, "hour": 3600, "day": 86400})
    keys: dict = field(default_factory=_default_keys)
    latency: float = 0.0
    flaws: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready deep copy."""
        return copy.deepcopy(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SandboxConfig:
        """Defaults deep-merged with ``data`` (unknown keys raise ValueError)."""
        base = cls().to_dict()
        unknown = set(data) - set(base)
        if unknown:
            raise ValueError(f"unknown sandbox config keys: {sorted(unknown)}")
        return cls(**deep_merge(base, data))


IMMUTABLE_KEYS = ("seed", "population", "flaws")


def deep_merge(base: Mapping, patch: Mapping) -> dict:
    """``base`` updated by ``patch``: nested dicts merge, everything else (lists too) replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# --------------------------------------------------------------------------------------------
# Request / response / vendor app types.
# --------------------------------------------------------------------------------------------


class BadRequestBody(ValueError):
    """The request body is not the JSON the endpoint needs."""


@dataclass
class Request:
    """One HTTP request as a vendor app sees it (``path`` is relative to the vendor's mount)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    raw_path: str = ""

    def header(self, name: str) -> str | None:
        """A header value, case-insensitively."""
        return self.headers.get(name)

    def json(self) -> Any:
        """The body parsed as JSON; an empty body is ``{}``; invalid JSON raises BadRequestBody."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequestBody(str(exc)) from exc


@dataclass
class Response:
    """What a handler answers; ``endpoint`` labels it in the stats."""

    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        """A JSON response."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status, body, headers=dict(headers or {}))

    @classmethod
    def text(
        cls,
        status: int,
        text: str,
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """A plain-text (or HTML) response."""
        return cls(status, text.encode("utf-8"), content_type, dict(headers or {}))


class VendorApp:
    """Base class of a vendor emulator. Subclasses set ``name``/``prefixes`` and implement ``handle``."""

    name: ClassVar[str] = ""
    prefixes: ClassVar[tuple[str, ...]] = ()  # root-level path prefixes this vendor also answers

    def __init__(self, ctx: SandboxContext):
        self.ctx = ctx

    def handle(self, req: Request) -> Response:
        """Answer one request (auth, limits and business logic are the app's job)."""
        raise NotImplementedError

    def endpoint_of(self, path: str) -> str:
        """Label for the stats (default: the path)."""
        return path

    def fault_response(self, kind: str, req: Request) -> Response:
        """The response for an injected fault (vendors override to match their error shapes)."""
        if kind == "500":
            return Response.json(500, {"error": "Internal Server Error"})
        if kind == "502":
            return Response.text(502, _html_error(502, "Bad Gateway"), "text/html")
        if kind == "503":
            return Response.text(503, _html_error(503, "Service Temporarily Unavailable"), "text/html")
        return Response.json(429, {"error": "Too Many Requests"}, {"Retry-After": "1"})

    def stats(self) -> dict:
        """Vendor-specific counters (credits, purchases ...)."""
        return {}

    def reset(self) -> None:
        """Clear vendor-specific counters."""

    def ground_truth(self, params: Mapping[str, list[str]], body: Any) -> dict:
        """Who a full search with ``params`` could find (vendors with a search implement this)."""
        raise NotImplementedError(f"{self.name} has no ground truth")


def _html_error(status: int, reason: str) -> str:
    # Gateways answer in HTML, not the vendor's JSON: clients must not assume a JSON error body.
    head = f"<head><title>{status} {reason}</title></head>"
    return (
        f"<html>\r\n{head}\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    )


class VendorStats:
    """Generic per-vendor request counters (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: dict[str, Counter] = {}
        self.handler_errors = 0

    def record(self, endpoint: str, status: int) -> None:
        """Count one answered request."""
        with self.lock:
            self.requests.setdefault(endpoint, Counter())[str(status)] += 1

    def snapshot(self) -> dict:
        """Requests by endpoint and status, totals and 429s."""
        with self.lock:
            by_endpoint = {ep: dict(sorted(c.items())) for ep, c in sorted(self.requests.items())}
            total = sum(sum(c.values()) for c in self.requests.values())
            too_many = sum(c.get("429", 0) for c in self.requests.values())
            return {
                "requests": by_endpoint,
                "requests_total": total,
                "responses_429": too_many,
                "handler_errors": self.handler_errors,
            }


class SandboxContext:
    """Shared state handed to vendor apps: live config, population, limiter, fault injector."""

    def __init__(self, config: SandboxConfig):
        self._initial = config.to_dict()
        self._config = config.to_dict()
        self._lock = threading.Lock()
        self.population = Population.for_setting(config.population, config.seed, config.flaws or None)
        self.limiter = FixedWindowLimiter()
        self.faults = FaultInjector(config.seed)
        self._apply_fail_next(self._config.get("faults", {}))

    @property
    def config(self) -> dict:
        """The current config. Never mutate it: updates replace the whole dict (copy-on-write)."""
        return self._config

    def config_view(self) -> dict:
        """The config as the admin endpoint shows it, with live ``fail_next`` counts."""
        view = copy.deepcopy(self._config)
        for scope, spec in view.get("faults", {}).items():
            spec["fail_next"] = self.faults.remaining(scope)
        return view

    def update_config(self, patch: Mapping[str, Any]) -> dict:
        """Deep-merge ``patch`` into the live config; ValueError on unknown or immutable keys."""
        if not isinstance(patch, Mapping):
            raise ValueError("config patch must be a JSON object")
        unknown = set(patch) - set(self._config)
        if unknown:
            raise ValueError(f"unknown sandbox config keys: {sorted(unknown)}")
        frozen = [k for k in IMMUTABLE_KEYS if k in patch and patch[k] != self._config[k]]
        if frozen:
            raise ValueError(f"{frozen} cannot change while the sandbox runs; restart it instead")
        for scope, spec in (patch.get("faults") or {}).items():
            if not isinstance(spec, Mapping):
                raise ValueError(f"faults.{scope} must be an object")
            bad = set(spec) - set(FAULT_DEFAULTS)
            if bad:
                raise ValueError(f"unknown fault settings in faults.{scope}: {sorted(bad)}")
            kind = spec.get("fail_next_kind")
            if kind is not None and str(kind) not in FAULT_KINDS:
                raise ValueError(f"fail_next_kind must be one of {list(FAULT_KINDS)}")
        with self._lock:
            merged = deep_merge(self._config, patch)
            self._apply_fail_next(patch.get("faults") or {}, merged.get("faults", {}))
            self._config = merged
        return self.config_view()

    def reset_config(self) -> None:
        """Back to the config the server started with."""
        with self._lock:
            self._config = copy.deepcopy(self._initial)
            self._apply_fail_next(self._config.get("faults", {}))

    def _apply_fail_next(self, patch_faults: Mapping, merged_faults: Mapping | None = None) -> None:
        # fail_next is a counter that requests consume, so it lives in the injector, not the config.
        merged_faults = merged_faults if merged_faults is not None else patch_faults
        for scope, spec in patch_faults.items():
            if "fail_next" in spec or "fail_next_kind" in spec:
                effective = {**FAULT_DEFAULTS, **merged_faults.get(scope, {})}
                count = spec.get("fail_next", self.faults.remaining(scope))
                self.faults.set_fail_next(scope, int(count or 0), str(effective["fail_next_kind"]))


# --------------------------------------------------------------------------------------------
# HTTP plumbing.
# --------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Reads a request, hands it to the router, writes the answer. One instance per connection."""

    protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects from real APIs
    # Headers and body go out in two writes; without TCP_NODELAY every keep-alive answer waits ~40 ms
    # for the client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = "lead-sprint-sandbox"
    sys_version = ""
    timeout = 60  # idle keep-alive connections release their thread

    def version_string(self) -> str:  # noqa: D102 - stdlib hook
        return self.server_version

    def do_GET(self):  # noqa: D102 - the verb handlers all delegate
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        router: Router = self.server.router  # type: ignore[attr-defined]
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self._write(Response.json(400, {"error": "unreadable request body"}))
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            raw_path=self.path,
        )
        try:
            resp = router.dispatch(req)
        except Exception:  # the router already guards handlers; this is the last line of defence
            log.exception("sandbox router failed on %s %s", self.command, self.path)
            resp = Response.json(500, {"error": "sandbox internal error"})
        self._write(resp)

    def _write(self, resp: Response) -> None:
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # A request line can carry a key in its query (NeverBounce's single check): never log it.
        log.debug("%s - %s", self.address_string(), _QUERY_SECRET.sub(r"\1***", format % args))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Server6(_Server):
    address_family = socket.AF_INET6


class Router:
    """Maps paths to admin endpoints or vendor apps and applies latency, faults and stats."""

    def __init__(self, ctx: SandboxContext, apps: list[VendorApp]):
        self.ctx = ctx
        self.apps = {app.name: app for app in apps}
        self.stats = {app.name: VendorStats() for app in apps}
        self.started = time.time()
        self.reset_at = self.started
        # Root mounts, longest prefix first, so e.g. /v2/companies/ (Clearbit) beats /v2/ (Hunter).
        self._roots = sorted(((p, app) for app in apps for p in app.prefixes), key=lambda pa: -len(pa[0]))

    # -- routing --------------------------------------------------------------------------

    def resolve(self, path: str) -> tuple[VendorApp | None, str]:
        """The app for ``path`` and the path relative to its mount."""
        head, _, rest = path.lstrip("/").partition("/")
        if head in self.apps:
            return self.apps[head], "/" + rest
        for prefix, app in self._roots:
            if path.startswith(prefix):
                return app, path
        return None, path

    def dispatch(self, req: Request) -> Response:
        """Answer one request."""
        if req.path.startswith(ADMIN_PREFIX) or req.path == ADMIN_PREFIX.rstrip("/"):
            return self._admin(req)
        app, path = self.resolve(req.path)
        if app is None:
            return Response.json(404, {"error": "Not Found", "path": req.path})
        req.path = path
        return self._vendor(app, req)

    def _vendor(self, app: VendorApp, req: Request) -> Response:
        config = self.ctx.config
        endpoint = app.endpoint_of(req.path)
        plan = self.ctx.faults.plan(app.name, req.path, config.get("faults", {}))
        if plan.kind in ("500", "502", "503", "429"):
            resp = app.fault_response(plan.kind, req)
        elif plan.kind == "malformed" and not plan.runs_handler:
            resp = Response(200, truncate_json(b'{"status": "success", "people": [{"id": "0"}]}'))
        else:
            try:
                resp = app.handle(req)
            except Exception:
                log.error(
                    "sandbox %s handler failed on %s %s\n%s",
                    app.name,
                    req.method,
                    req.raw_path,
                    traceback.format_exc(),
                )
                with self.stats[app.name].lock:
                    self.stats[app.name].handler_errors += 1
                resp = Response.json(500, {"error": "sandbox handler error"})
            if plan.kind == "malformed":
                resp = Response(
                    200, truncate_json(resp.body), "application/json; charset=utf-8", resp.headers
                )
        delay = float(config.get("latency") or 0) + plan.delay_ms
        if delay > 0:
            time.sleep(delay / 1000.0)
        self.stats[app.name].record(endpoint, resp.status)
        return resp

    # -- admin ----------------------------------------------------------------------------

    def _admin(self, req: Request) -> Response:
        name = req.path[len(ADMIN_PREFIX) :].strip("/")
        try:
            if name == "health":
                return Response.json(
                    200,
                    {
                        "ok": True,
                        "pid": os.getpid(),
                        "vendors": sorted(self.apps),
                        "seed": self.ctx.config["seed"],
                        "population": self.ctx.config["population"],
                    },
                )
            if name == "stats":
                return Response.json(200, self.stats_snapshot())
            if name == "reset" and req.method == "POST":
                body = req.json() or {}
                self.reset(config=bool(body.get("config")) if isinstance(body, dict) else False)
                return Response.json(
                    200, {"ok": True, "config_reset": bool(isinstance(body, dict) and body.get("config"))}
                )
            if name == "config":
                if req.method == "POST":
                    return Response.json(200, self.ctx.update_config(req.json()))
                return Response.json(200, self.ctx.config_view())
            if name == "ground_truth":
                vendor = (req.query.get("vendor") or ["apollo"])[0]
                app = self.apps.get(vendor)
                if app is None:
                    return Response.json(404, {"error": f"unknown vendor {vendor!r}"})
                body = req.json() if req.method == "POST" else {}
                return Response.json(200, app.ground_truth(req.query, body))
            if name == "population":
                return Response.json(200, self.ctx.population.summary())
        except BadRequestBody as exc:
            return Response.json(400, {"error": f"invalid JSON body: {exc}"})
        except (ValueError, TypeError) as exc:
            return Response.json(400, {"error": str(exc)})
        except Exception:
            log.exception("sandbox admin endpoint %s failed", name)
            return Response.json(500, {"error": "sandbox admin error"})
        return Response.json(404, {"error": f"unknown admin endpoint {req.method} {req.path}"})

    def stats_snapshot(self) -> dict:
        """Per-vendor stats: requests, 429s, injected faults, peaks and the vendor's own counters."""
        vendors = {}
        for name, app in self.apps.items():
            entry = self.stats[name].snapshot()
            entry["injected_faults"] = dict(self.ctx.faults.injected.get(name, {}))
            entry["peak_rate"] = self.ctx.limiter.peaks(name)
            entry.update(app.stats())
            vendors[name] = entry
        return {"since_reset_s": round(time.time() - self.reset_at, 3), "vendors": vendors}

    def reset(self, config: bool = False) -> None:
        """Clear counters and stats (population kept); optionally restore the startup config."""
        self.ctx.limiter.reset()
        self.ctx.faults.reset()
        if config:
            self.ctx.reset_config()  # after the injector reset, so a startup fail_next applies again
        for name, app in self.apps.items():
            self.stats[name] = VendorStats()
            app.reset()
        self.reset_at = time.time()


# --------------------------------------------------------------------------------------------
# The server.
# --------------------------------------------------------------------------------------------


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the sandbox only binds loopback addresses, not {host!r}")


class SandboxServer:
    """A running sandbox: ``base_url``, ``stop()``, usable as a context manager."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        _check_loopback(host)
        self.config = config or SandboxConfig()
        self.ctx = SandboxContext(self.config)
        apps = [m.create_app(self.ctx) for m in vendor_modules()]
        self.router = Router(self.ctx, apps)
        server_cls = _Server6 if ":" in host else _Server
        self._httpd = server_cls((host, port), _Handler)
        self._httpd.router = self.router  # type: ignore[attr-defined]
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def population(self) -> Population:
        """The people every vendor app serves."""
        return self.ctx.population

    def url(self, vendor: str) -> str:
        """The mount of one vendor, e.g. ``url("apollo") + "/api/v1/people/bulk_match"``."""
        return f"{self.base_url}/{vendor}"

    def start(self) -> SandboxServer:
        """Serve in a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"sandbox:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def update_config(self, patch: Mapping[str, Any]) -> dict:
        """In-process equivalent of ``POST /__sandbox/config``."""
        return self.ctx.update_config(patch)

    def reset(self, config: bool = False) -> None:
        """In-process equivalent of ``POST /__sandbox/reset``."""
        self.router.reset(config=config)

    def stats(self) -> dict:
        """In-process equivalent of ``GET /__sandbox/stats``."""
        return self.router.stats_snapshot()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(
    config: SandboxConfig | None = None, port: int = 0, host: str = "127.0.0.1"
) -> SandboxServer:
    """Build the population, bind ``host:port`` (0 = a free port) and serve in a daemon thread."""
    return SandboxServer(config, host=host, port=port).start()


__all__ = [
    "FLAW_DEFAULTS",
    "Request",
    "Response",
    "SandboxConfig",
    "SandboxContext",
    "SandboxServer",
    "VendorApp",
    "start_sandbox",
]
