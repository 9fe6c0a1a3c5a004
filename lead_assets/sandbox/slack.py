"""Slack Web API emulator: chat.postMessage, the v2 file upload, incoming webhooks.

Contract (see vendor-apis.md §9 and §10), under the ``/slack`` mount:

* ``POST /slack/api/chat.postMessage`` (JSON or form): ``channel`` plus ``text`` and/or ``blocks``;
  answers ``{"ok": true, "channel", "ts", "message"}``.
* ``POST /slack/api/files.getUploadURLExternal`` (form, as slack-sdk sends it): ``filename``,
  ``length`` -> ``{"ok": true, "upload_url", "file_id"}``; the ``upload_url`` points back at this
  sandbox (``/slack/upload/v1/<id>``), as Slack's points at files.slack.com.
* ``POST /slack/upload/v1/<id>``: the raw bytes (or one multipart file part); 200 ``OK - <bytes>``.
* ``POST /slack/api/files.completeUploadExternal``: ``files`` (JSON list of ``{id, title}``) and
  ``channel_id``/``channels``; each file must have been uploaded with exactly ``length`` bytes.
* ``GET /slack/files-pri/<team>-<file id>/<name>`` (bearer token): the file's bytes
  (``url_private_download``), so tests can read back what was uploaded.
* ``POST /slack/services/<T>/<B>/<secret>``: an incoming webhook; text ``ok`` or a plain-text
  error code with its HTTP status.

Like Slack, app errors are HTTP 200 with ``{"ok": false, "error": "<code>"}`` (``not_authed``,
``invalid_auth``, ``channel_not_found``, ``no_text``, ``invalid_blocks``, ``msg_too_long``,
``invalid_arguments``, ``file_not_found`` ...); rate limiting is HTTP 429 with ``Retry-After`` and
``{"ok": false, "error": "ratelimited"}``. chat.postMessage allows one message per second per
channel (a sliding window, so tests are deterministic); the upload methods are Tier 4 (100 per
minute per token). The error code for completing a file whose bytes never arrived is UNCONFIRMED
(Slack does not document it); the sandbox answers ``file_not_found`` with a ``response_metadata``
message.

Workspace state lives in the ``keys`` config entry: ``keys.slack.valid`` are the bot tokens,
``keys.slack.channels`` the channel names the bot is a member of (their ids are derived from the
names). Every message, file and webhook call is recorded in memory and shown in the stats
(``GET /__sandbox/stats`` -> ``vendors.slack.messages`` / ``files`` / ``webhooks``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import mimetypes
import threading
import time
import uuid
from collections import Counter, deque
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from .server import BadRequestBody, Request, Response, SandboxContext, VendorApp

DEFAULT_KEYS = {"valid": ["xoxb-sandbox-token"], "channels": ["lead-sprint", "lead-sprint-alerts"]}
# Window name -> allowance. chat.postMessage is per channel (sliding); "files" is Tier 4 per token.
DEFAULT_LIMITS = {"chat.postMessage": {"second": 1}, "files": {"minute": 100}}

TEAM_ID = "T0SANDBOX"
BOT_ID = "B0SANDBOX"
BOT_USER = "U0SANDBOXBOT"
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_TEXT = 40_000
MAX_FILE_BYTES = 1_000_000_000  # Slack's 1 GB per file
FILE_METHODS = frozenset({"files.getUploadURLExternal", "files.completeUploadExternal"})
_WINDOW_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def channel_id(name: str) -> str:
    """The deterministic channel id of a channel name (``C`` + 10 hex digits, upper case)."""
    return "C" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:10].upper()


def _ok(payload: dict, headers: dict | None = None) -> Response:
    return Response.json(200, {"ok": True, **payload}, headers)


def _error(code: str, *messages: str) -> Response:
    body: dict[str, Any] = {"ok": False, "error": code}
    if messages:
        body["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in messages]}
    return Response.json(200, body)


def _ratelimited(retry_after: int) -> Response:
    return Response.json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})


class SlackApp(VendorApp):
    """The emulator; ``messages``, ``files`` and ``webhooks`` record what clients sent."""

    name = "slack"
    prefixes = ()  # Slack's /api/ would collide with Apollo's root paths: mount only under /slack

    def __init__(self, ctx: SandboxContext, clock=time.time):
        super().__init__(ctx)
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self.reset()

    # -- bookkeeping -----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every message, upload, file and rate-limit window."""
        with self._lock:
            self.messages: list[dict] = []
            self.files: dict[str, dict] = {}  # file id -> metadata (+ "content" bytes once uploaded)
            self.webhooks: list[dict] = []
            self._uploads: dict[str, str] = {}  # upload id -> file id
            self._posts: dict[str, deque] = {}  # channel id -> accepted post times (sliding window)
            self.rate_limited: Counter = Counter()
            self.app_errors: Counter = Counter()

    def stats(self) -> dict:
        """What was posted (messages, completed files without their bytes, webhooks) and refusals."""
        with self._lock:
            files = [
                {k: v for k, v in f.items() if k not in ("content", "token")}
                for f in self.files.values()
                if f["state"] == "complete"
            ]
            return {
                "messages": [dict(m) for m in self.messages],
                "files": files,
                "uploads_pending": sum(1 for f in self.files.values() if f["state"] != "complete"),
                "webhooks": [dict(w) for w in self.webhooks],
                "rate_limited": dict(self.rate_limited),
                "app_errors": dict(self.app_errors),
            }

    def file_content(self, file_id: str) -> bytes | None:
        """The uploaded bytes of a file (in-process access for tests)."""
        with self._lock:
            f = self.files.get(file_id)
            return None if f is None else f.get("content")

    def endpoint_of(self, path: str) -> str:
        """Stats label: the API method, or upload / download / webhook."""
        if path.startswith("/api/"):
            return path[len("/api/") :]
        for prefix, label in (("/upload/", "upload"), ("/files-pri/", "download"), ("/services/", "webhook")):
            if path.startswith(prefix):
                return label
        return path

    def fault_response(self, kind: str, req: Request) -> Response:
        """Injected 429s look like Slack's own; gateway errors keep the base shapes."""
        if kind == "429":
            return _ratelimited(1)
        return super().fault_response(kind, req)

    # -- config views ----------------------------------------------------------------------

    def _keys(self) -> dict:
        return self.ctx.config.get("keys", {}).get(self.name, {})

    def _channels(self) -> dict[str, str]:
        """Channel id -> name for every channel the bot is in."""
        return {channel_id(n): n for n in self._keys().get("channels", [])}

    def _resolve_channel(self, value: Any) -> str | None:
        """A channel id for an id, a name or a ``#name``; None when the bot is in no such channel."""
        if not isinstance(value, str) or not value.strip():
            return None
        channels = self._channels()
        value = value.strip()
        if value in channels:
            return value
        name = value.lstrip("#")
        return channel_id(name) if channel_id(name) in channels else None

    def _limits(self, cls: str) -> dict:
        return self.ctx.config.get("limits", {}).get(self.name, {}).get(cls, {}) or {}

    def _window_seconds(self) -> dict[str, float]:
        return {**_WINDOW_SECONDS, **{k: float(v) for k, v in self.ctx.config.get("windows", {}).items()}}

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        """Route to an API method, the upload URL, a file download or a webhook."""
        path = req.path
        if path.startswith("/upload/v1/"):
            return self._upload(req, path[len("/upload/v1/") :])
        if path.startswith("/files-pri/"):
            return self._download(req, path[len("/files-pri/") :])
        if path.startswith("/services/"):
            return self._webhook(req, path[len("/services/") :])
        if not path.startswith("/api/"):
            return Response.json(404, {"ok": False, "error": "unknown_method"})
        method = path[len("/api/") :]
        handlers = {
            "chat.postMessage": self._post_message,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "auth.test": self._auth_test,
        }
        handler = handlers.get(method)
        if handler is None:
            return Response.json(404, {"ok": False, "error": "unknown_method", "req_method": method})
        try:
            args = _arguments(req)
        except BadRequestBody:
            return self._app_error("invalid_json")
        token = _token(req, args)
        if not token:
            return self._app_error("not_authed")
        if token not in self._keys().get("valid", []):
            return self._app_error("invalid_auth")
        if method in FILE_METHODS:
            limits = self._limits("files")
            decision = self.ctx.limiter.acquire(self.name, token, "files", limits, self._window_seconds())
            if not decision.allowed:
                with self._lock:
                    self.rate_limited[method] += 1
                return _ratelimited(decision.retry_after)
        return handler(req, args, token)

    def _app_error(self, code: str, *messages: str) -> Response:
        with self._lock:
            self.app_errors[code] += 1
        return _error(code, *messages)

    # -- methods ----------------------------------------------------------------------------

    def _auth_test(self, req: Request, args: dict, token: str) -> Response:
        return _ok({"url": "https://sandbox.slack.com/", "team": "sandbox", "team_id": TEAM_ID,
                    "user_id": BOT_USER, "bot_id": BOT_ID})

    def _post_message(self, req: Request, args: dict, token: str) -> Response:
        cid = self._resolve_channel(args.get("channel"))
        if cid is None:
            return self._app_error("channel_not_found")
        text = args.get("text")
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except json.JSONDecodeError:
                return self._app_error("invalid_blocks", "blocks is not valid JSON")
        if not (isinstance(text, str) and text.strip()) and not blocks and not args.get("attachments"):
            return self._app_error("no_text")
        if blocks is not None:
            problem = _blocks_problem(blocks)
            if problem:
                return self._app_error("invalid_blocks", problem)
        if isinstance(text, str) and len(text) > MAX_TEXT:
            return self._app_error("msg_too_long")
        retry_after = self._take_post_slot(cid)
        if retry_after:
            with self._lock:
                self.rate_limited["chat.postMessage"] += 1
            return _ratelimited(retry_after)
        ts = self._next_ts()
        message = {"type": "message", "text": text or "", "user": BOT_USER, "bot_id": BOT_ID, "ts": ts}
        if blocks:
            message["blocks"] = blocks
        record = {
            "channel": cid,
            "channel_name": self._channels()[cid],
            "ts": ts,
            "text": text or "",
            "blocks": blocks or [],
            "thread_ts": args.get("thread_ts"),
        }
        with self._lock:
            self.messages.append(record)
        return _ok({"channel": cid, "ts": ts, "message": message})

    def _take_post_slot(self, cid: str) -> int:
        """Count a post against the channel's sliding windows; seconds to wait when one is full."""
        now = self._clock()
        seconds = self._window_seconds()
        windows = [(float(seconds[n]), int(lim)) for n, lim in self._limits("chat.postMessage").items()
                   if lim is not None and n in seconds]
        if not windows:
            return 0
        longest = max(w for w, _ in windows)
        with self._lock:
            times = self._posts.setdefault(cid, deque())
            while times and times[0] <= now - longest:
                times.popleft()
            wait = 0.0
            for window, limit in windows:
                recent = [t for t in times if t > now - window]
                if len(recent) >= limit:
                    wait = max(wait, recent[-limit] + window - now)
            if wait > 0:
                return max(1, math.ceil(wait))
            times.append(now)
            return 0

    def _get_upload_url(self, req: Request, args: dict, token: str) -> Response:
        filename = args.get("filename")
        if not isinstance(filename, str) or not filename.strip():
            return self._app_error("invalid_arguments", "missing required field: filename")
        raw_length = args.get("length")
        if raw_length in (None, "", 0, "0"):
            return self._app_error("missing_argument", "length must be at least 1 byte")
        try:
            length = int(raw_length)
        except (TypeError, ValueError):
            return self._app_error("invalid_arguments", "length must be an integer")
        if length < 1:
            return self._app_error("invalid_arguments", "length must be at least 1 byte")
        if length > MAX_FILE_BYTES:
            return self._app_error("file_upload_size_restricted")
        file_id = "F" + uuid.uuid4().hex[:10].upper()
        upload_id = uuid.uuid4().hex
        with self._lock:
            self._uploads[upload_id] = file_id
            self.files[file_id] = {
                "id": file_id,
                "name": filename,
                "title": filename,
                "length": length,
                "alt_txt": args.get("alt_txt"),
                "state": "issued",
                "token": token,
            }
        return _ok({"upload_url": f"{_base(req)}/upload/v1/{upload_id}", "file_id": file_id})

    def _upload(self, req: Request, upload_id: str) -> Response:
        if req.method != "POST":
            return Response.text(405, "method_not_allowed")
        with self._lock:
            file_id = self._uploads.get(upload_id)
            if file_id is None or self.files[file_id]["state"] == "complete":
                return Response.text(404, "upload_not_found")
        data = _upload_bytes(req)
        with self._lock:
            f = self.files[file_id]
            f["content"] = data
            f["size"] = len(data)
            f["state"] = "uploaded"
        return Response.text(200, f"OK - {len(data)}")

    def _complete_upload(self, req: Request, args: dict, token: str) -> Response:
        entries = args.get("files")
        if isinstance(entries, str):
            try:
                entries = json.loads(entries)
            except json.JSONDecodeError:
                return self._app_error("invalid_arguments", "files is not valid JSON")
        if not isinstance(entries, list) or not entries or not all(
            isinstance(e, dict) and isinstance(e.get("id"), str) for e in entries
        ):
            return self._app_error("invalid_arguments", "files must be a JSON array of {id, title}")
        targets = [args["channel_id"]] if args.get("channel_id") else []
        targets += [c for c in str(args.get("channels") or "").split(",") if c.strip()]
        resolved = [self._resolve_channel(c) for c in targets]
        if any(c is None for c in resolved):
            return self._app_error("channel_not_found")
        with self._lock:
            for entry in entries:
                f = self.files.get(entry["id"])
                if f is None or f["token"] != token or f["state"] == "complete":
                    return self._app_error_locked("file_not_found", f"unknown file {entry['id']}")
                if f["state"] != "uploaded" or f["size"] != f["length"]:
                    got = f.get("size", 0)
                    return self._app_error_locked(
                        "file_not_found",
                        f"file {entry['id']}: {got} bytes uploaded, length was {f['length']}",
                    )
            done = []
            for entry in entries:
                f = self.files[entry["id"]]
                mimetype = mimetypes.guess_type(f["name"])[0] or "application/octet-stream"
                base = _base(req)
                f.update(
                    state="complete",
                    title=entry.get("title") or f["name"],
                    mimetype=mimetype,
                    filetype=f["name"].rsplit(".", 1)[-1].lower() if "." in f["name"] else "binary",
                    sha256=hashlib.sha256(f["content"]).hexdigest(),
                    channels=[c for c in resolved if c],
                    initial_comment=args.get("initial_comment"),
                    thread_ts=args.get("thread_ts"),
                    completed_seq=next(self._seq),
                    url_private=f"{base}/files-pri/{TEAM_ID}-{f['id']}/{f['name']}",
                    url_private_download=f"{base}/files-pri/{TEAM_ID}-{f['id']}/download/{f['name']}",
                )
                done.append({k: f[k] for k in ("id", "name", "title", "mimetype", "filetype", "size",
                                                "url_private", "url_private_download")})
        return _ok({"files": done})

    def _app_error_locked(self, code: str, *messages: str) -> Response:
        self.app_errors[code] += 1  # caller holds the lock
        return _error(code, *messages)

    def _download(self, req: Request, rest: str) -> Response:
        token = _bearer(req)
        if not token or token not in self._keys().get("valid", []):
            return Response.text(403, "forbidden")
        file_id = rest.split("/", 1)[0].rsplit("-", 1)[-1]
        with self._lock:
            f = self.files.get(file_id)
            if f is None or f["state"] != "complete":
                return Response.text(404, "file_not_found")
            return Response(200, f["content"], f["mimetype"])

    def _webhook(self, req: Request, rest: str) -> Response:
        if req.method != "POST" or len([p for p in rest.split("/") if p]) != 3:
            return Response.text(404, "no_service")
        try:
            body = req.json()
        except BadRequestBody:
            return Response.text(400, "invalid_payload")
        if not isinstance(body, dict):
            return Response.text(400, "invalid_payload")
        if not (isinstance(body.get("text"), str) and body["text"].strip()) and not body.get("blocks"):
            return Response.text(400, "no_text")
        with self._lock:
            self.webhooks.append({"hook": rest, "text": body.get("text", ""), "blocks": body.get("blocks") or []})
        return Response.text(200, "ok")

    def _next_ts(self) -> str:
        # Unique and increasing, like Slack's "seconds.micro-sequence" message timestamps.
        return f"{int(self._clock())}.{next(self._seq):06d}"


# --------------------------------------------------------------------------------------------
# Request parsing.
# --------------------------------------------------------------------------------------------


def _base(req: Request) -> str:
    """This vendor's mount as the client reached it (upload and file URLs point back here)."""
    host = req.header("Host") or "127.0.0.1"
    return f"http://{host}/{SlackApp.name}"


def _bearer(req: Request) -> str | None:
    auth = req.header("Authorization") or ""
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _token(req: Request, args: dict) -> str | None:
    """Slack takes the token from the Authorization header or a ``token`` argument."""
    token = _bearer(req) or args.get("token")
    return token if isinstance(token, str) and token else None


def _arguments(req: Request) -> dict:
    """Query, form and JSON arguments merged (the body wins); single-valued form fields unwrapped."""
    args: dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in req.query.items()}
    ctype = (req.header("Content-Type") or "").lower()
    if "application/json" in ctype:
        body = req.json()
        if not isinstance(body, dict):
            raise BadRequestBody("body must be a JSON object")
        args.update(body)
    elif "multipart/form-data" in ctype:
        for name, value, _ in _multipart_parts(req):
            args[name] = value.decode("utf-8", "replace")
    elif req.body:
        form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        args.update({k: v[0] if len(v) == 1 else v for k, v in form.items()})
    return args


def _multipart_parts(req: Request) -> list[tuple[str, bytes, str | None]]:
    """(field name, payload, filename) of every part of a multipart/form-data body."""
    head = f"Content-Type: {req.header('Content-Type')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + req.body)
    parts = []
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition") or ""
        parts.append((name, part.get_payload(decode=True) or b"", part.get_filename()))
    return parts


def _upload_bytes(req: Request) -> bytes:
    """The uploaded file: the raw body (slack-sdk's way) or the first file part of a multipart body."""
    if "multipart/form-data" in (req.header("Content-Type") or "").lower():
        for _, payload, filename in _multipart_parts(req):
            if filename is not None:
                return payload
    return req.body


def _blocks_problem(blocks: Any) -> str | None:
    """Why ``blocks`` would be refused (None when they look like valid Block Kit)."""
    if not isinstance(blocks, list):
        return "blocks must be an array"
    if len(blocks) > MAX_BLOCKS:
        return f"no more than {MAX_BLOCKS} blocks are allowed"
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return f"block {i} has no type"
        text = block.get("text")
        if isinstance(text, dict) and len(str(text.get("text", ""))) > MAX_SECTION_TEXT:
            return f"block {i}: text must be at most {MAX_SECTION_TEXT} characters"
    return None


def create_app(ctx: SandboxContext) -> SlackApp:
    """The sandbox server's entry point for this vendor."""
    return SlackApp(ctx)
