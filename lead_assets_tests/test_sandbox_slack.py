"""Contract tests of the sandbox's Slack emulator, over real HTTP with ``requests``.

One in-process sandbox serves the module; each test starts from a reset (messages, files, limits
and the startup config), so a test may change the config without leaking into the next.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import requests

from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sandbox.slack import channel_id

TOKEN = "xoxb-sandbox-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHANNEL = "lead-sprint"


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=50)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def reset(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)


def api(sandbox, method, *, json_body=None, data=None, headers=AUTH):
    return requests.post(f"{sandbox.url('slack')}/api/{method}", json=json_body, data=data, headers=headers,
                         timeout=5)


def slack_stats(sandbox):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["slack"]


def configure(sandbox, **changes):
    r = requests.post(f"{sandbox.base_url}/__sandbox/config", json=changes, timeout=5)
    assert r.status_code == 200, r.text


def test_post_message_answers_like_slack_and_is_recorded(sandbox):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]
    r = api(sandbox, "chat.postMessage", json_body={"channel": f"#{CHANNEL}", "text": "hello", "blocks": blocks})
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["channel"] == channel_id(CHANNEL)
    assert body["message"]["text"] == "hello" and body["message"]["blocks"] == blocks
    assert body["ts"] == body["message"]["ts"]
    [msg] = slack_stats(sandbox)["messages"]
    assert msg == {"channel": channel_id(CHANNEL), "channel_name": CHANNEL, "ts": body["ts"], "text": "hello",
                   "blocks": blocks, "thread_ts": None}


def test_channel_by_id_and_form_encoding_with_token_argument(sandbox):
    r = api(sandbox, "chat.postMessage", data={"channel": channel_id(CHANNEL), "text": "form", "token": TOKEN},
            headers={})
    assert r.json()["ok"] is True
    assert slack_stats(sandbox)["messages"][0]["text"] == "form"


@pytest.mark.parametrize(
    ("headers", "payload", "error"),
    [
        ({}, {"channel": CHANNEL, "text": "x"}, "not_authed"),
        ({"Authorization": "Bearer xoxb-wrong"}, {"channel": CHANNEL, "text": "x"}, "invalid_auth"),
        (AUTH, {"channel": "#nowhere", "text": "x"}, "channel_not_found"),
        (AUTH, {"channel": CHANNEL}, "no_text"),
        (AUTH, {"channel": CHANNEL, "text": "   "}, "no_text"),
        (AUTH, {"channel": CHANNEL, "blocks": [{"text": "no type"}]}, "invalid_blocks"),
        (AUTH, {"channel": CHANNEL, "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (AUTH, {"channel": CHANNEL, "text": "x" * 40_001}, "msg_too_long"),
    ],
)
def test_app_errors_are_http_200_with_ok_false(sandbox, headers, payload, error):
    r = api(sandbox, "chat.postMessage", json_body=payload, headers=headers)
    assert r.status_code == 200
    assert r.json()["ok"] is False and r.json()["error"] == error
    assert slack_stats(sandbox)["messages"] == []


def test_unknown_method_is_404(sandbox):
    r = api(sandbox, "chat.doesNotExist", json_body={})
    assert r.status_code == 404 and r.json()["error"] == "unknown_method"


def test_one_message_per_second_per_channel(sandbox):
    assert api(sandbox, "chat.postMessage", json_body={"channel": CHANNEL, "text": "1"}).json()["ok"]
    r = api(sandbox, "chat.postMessage", json_body={"channel": CHANNEL, "text": "2"})
    assert r.status_code == 429
    assert r.json() == {"ok": False, "error": "ratelimited"}
    assert int(r.headers["Retry-After"]) >= 1
    # another channel has its own allowance
    assert api(sandbox, "chat.postMessage", json_body={"channel": "lead-sprint-alerts", "text": "3"}).json()["ok"]
    stats = slack_stats(sandbox)
    assert [m["text"] for m in stats["messages"]] == ["1", "3"]
    assert stats["rate_limited"] == {"chat.postMessage": 1}


def test_the_window_slides(sandbox):
    configure(sandbox, windows={"second": 0.3})  # a short window keeps the test fast
    assert api(sandbox, "chat.postMessage", json_body={"channel": CHANNEL, "text": "1"}).json()["ok"]
    assert api(sandbox, "chat.postMessage", json_body={"channel": CHANNEL, "text": "2"}).status_code == 429
    time.sleep(0.35)
    assert api(sandbox, "chat.postMessage", json_body={"channel": CHANNEL, "text": "3"}).json()["ok"]


def test_injected_429_is_slack_shaped(sandbox):
    configure(sandbox, faults={"slack": {"fail_next": 1, "fail_next_kind": "429"}})
    r = api(sandbox, "chat.postMessage", json_body={"channel": CHANNEL, "text": "x"})
    assert r.status_code == 429 and r.json()["error"] == "ratelimited" and r.headers["Retry-After"] == "1"


def upload_url(sandbox, filename="chart.png", length=4):
    r = api(sandbox, "files.getUploadURLExternal", data={"filename": filename, "length": str(length)})
    body = r.json()
    assert body["ok"] is True, body
    return body["upload_url"], body["file_id"]


def test_v2_upload_round_trip(sandbox):
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    url, file_id = upload_url(sandbox, "chart.png", len(content))
    assert url.startswith(sandbox.url("slack") + "/upload/v1/")
    up = requests.post(url, data=content, timeout=5)  # no token: the URL itself is the credential
    assert up.status_code == 200 and up.text == f"OK - {len(content)}"
    files = json.dumps([{"id": file_id, "title": "Progress"}])
    done = api(sandbox, "files.completeUploadExternal",
               data={"files": files, "channel_id": channel_id(CHANNEL), "initial_comment": "hourly"}).json()
    assert done["ok"] is True
    [f] = done["files"]
    assert f["id"] == file_id and f["title"] == "Progress" and f["mimetype"] == "image/png"
    [recorded] = slack_stats(sandbox)["files"]
    assert recorded["sha256"] == hashlib.sha256(content).hexdigest()
    assert recorded["channels"] == [channel_id(CHANNEL)] and recorded["initial_comment"] == "hourly"
    assert "content" not in recorded and "token" not in recorded
    # the bytes come back from url_private_download, with the bot token only
    assert requests.get(f["url_private_download"], timeout=5).status_code == 403
    got = requests.get(f["url_private_download"], headers=AUTH, timeout=5)
    assert got.status_code == 200 and got.content == content
    assert sandbox.router.apps["slack"].file_content(file_id) == content


def test_multipart_upload_is_accepted(sandbox):
    url, file_id = upload_url(sandbox, "report.html", 5)
    assert requests.post(url, files={"file": ("report.html", b"<p/>!")}, timeout=5).status_code == 200
    done = api(sandbox, "files.completeUploadExternal", data={"files": json.dumps([{"id": file_id}])}).json()
    assert done["ok"] is True and done["files"][0]["title"] == "report.html"


def test_complete_needs_exactly_length_bytes(sandbox):
    _, never_uploaded = upload_url(sandbox, "a.png", 4)
    r = api(sandbox, "files.completeUploadExternal", data={"files": json.dumps([{"id": never_uploaded}])}).json()
    assert r["ok"] is False and r["error"] == "file_not_found"
    url, short = upload_url(sandbox, "b.png", 10)
    requests.post(url, data=b"12345", timeout=5)
    r = api(sandbox, "files.completeUploadExternal", data={"files": json.dumps([{"id": short}])}).json()
    assert r["ok"] is False and "5 bytes uploaded, length was 10" in r["response_metadata"]["messages"][0]
    assert slack_stats(sandbox)["files"] == [] and slack_stats(sandbox)["uploads_pending"] == 2


@pytest.mark.parametrize(
    ("data", "error"),
    [({"filename": "a.png", "length": "0"}, "missing_argument"),
     ({"filename": "a.png"}, "missing_argument"),
     ({"length": "3"}, "invalid_arguments"),
     ({"filename": "a.png", "length": "three"}, "invalid_arguments")],
)
def test_get_upload_url_validates_arguments(sandbox, data, error):
    r = api(sandbox, "files.getUploadURLExternal", data=data).json()
    assert r["ok"] is False and r["error"] == error


def test_complete_rejects_unknown_files_and_channels(sandbox):
    r = api(sandbox, "files.completeUploadExternal", data={"files": json.dumps([{"id": "FNOPE"}])}).json()
    assert r["error"] == "file_not_found"
    r = api(sandbox, "files.completeUploadExternal", data={"files": "not json"}).json()
    assert r["error"] == "invalid_arguments"
    url, file_id = upload_url(sandbox, "c.png", 1)
    requests.post(url, data=b"x", timeout=5)
    r = api(sandbox, "files.completeUploadExternal",
            data={"files": json.dumps([{"id": file_id}]), "channel_id": "CNOPE"}).json()
    assert r["error"] == "channel_not_found"
    assert requests.post(f"{sandbox.url('slack')}/upload/v1/unknown", data=b"x", timeout=5).status_code == 404


def test_upload_methods_are_tier_4_limited(sandbox):
    configure(sandbox, limits={"slack": {"files": {"minute": 2}}})
    upload_url(sandbox)
    upload_url(sandbox)
    r = api(sandbox, "files.getUploadURLExternal", data={"filename": "x.png", "length": "1"})
    assert r.status_code == 429 and r.json()["error"] == "ratelimited" and int(r.headers["Retry-After"]) >= 1


def test_incoming_webhook(sandbox):
    hook = f"{sandbox.url('slack')}/services/T0/B0/secret"
    r = requests.post(hook, json={"text": "from a webhook"}, timeout=5)
    assert r.status_code == 200 and r.text == "ok"
    assert requests.post(hook, json={}, timeout=5).text == "no_text"
    assert requests.post(hook, data=b"{not json", timeout=5).status_code == 400
    assert slack_stats(sandbox)["webhooks"][0]["text"] == "from a webhook"


def test_reset_forgets_everything(sandbox):
    api(sandbox, "chat.postMessage", json_body={"channel": CHANNEL, "text": "x"})
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={}, timeout=5)
    stats = slack_stats(sandbox)
    assert stats["messages"] == [] and stats["files"] == [] and stats["rate_limited"] == {}
    assert api(sandbox, "chat.postMessage", json_body={"channel": CHANNEL, "text": "y"}).json()["ok"]
