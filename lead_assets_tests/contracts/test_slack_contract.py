"""Slack Web API: what `SlackNotifier` (slack_sdk underneath) sends and reads, pinned to the contract.

Written from shared/vendor-apis.md section 9 (9.1 conventions: app errors as HTTP 200 `ok:false`,
429 + Retry-After; 9.2 chat.postMessage; 9.3 the three-step file upload v2), against a recording
server, not the sandbox.
"""

from __future__ import annotations

import json

import pytest

from lead_assets.clients.slack_notifier import SlackNotifier
from lead_assets_tests.contracts.recorder import Recorder, Reply

TOKEN = "xoxb-contract-token"
POSTED = {"ok": True, "channel": "C123ABC456", "ts": "1503435956.000247",
          "message": {"type": "message", "text": "hi", "bot_id": "B1", "ts": "1503435956.000247"}}


@pytest.fixture
def rec():
    with Recorder() as server:
        yield server


def notifier(rec, channel="C123ABC456"):
    return SlackNotifier(TOKEN, channel, rec.url, sleep=lambda s: None, retry_budget_seconds=5)


def test_post_message_request_and_shape(rec):
    rec.on("POST", "/api/chat.postMessage", Reply(200, POSTED))
    result = notifier(rec, "#lead-sprint").post("hi", blocks=[{"type": "section", "text": {"type": "mrkdwn",
                                                                                          "text": "hi"}}])
    [req] = rec.requests
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["content-type"].startswith("application/json")
    body = req.json()
    assert body["channel"] == "#lead-sprint" and body["text"] == "hi" and body["blocks"][0]["type"] == "section"
    assert result.ok and result.ids == {"ts": POSTED["ts"], "channel_id": "C123ABC456"}  # reads ts and channel


def test_app_errors_are_http_200_and_not_retried(rec):
    rec.on("POST", "/api/chat.postMessage", Reply(200, {"ok": False, "error": "channel_not_found"}))
    result = notifier(rec).post("hi")
    assert not result.ok and "channel_not_found" in result.detail and len(rec.requests) == 1


def test_ratelimited_429_waits_and_retries(rec):
    rec.on("POST", "/api/chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}),
           Reply(200, POSTED))
    assert notifier(rec).post("hi").ok and len(rec.requests) == 2


def test_file_upload_v2_three_steps(rec):
    # 9.3: getUploadURLExternal (form: filename, length) -> POST bytes to upload_url ->
    # completeUploadExternal (files = JSON text [{id, title}], channel_id).
    rec.on("POST", "/api/files.getUploadURLExternal",
           Reply(200, {"ok": True, "upload_url": f"{rec.url}/upload/v1/abc", "file_id": "F0ABC"}))
    rec.on("POST", "/upload/v1/abc", Reply(200, "OK - 11"))
    rec.on("POST", "/api/files.completeUploadExternal",
           Reply(200, {"ok": True, "files": [{"id": "F0ABC", "title": "report.md"}]}))
    result = notifier(rec).upload(b"hello world", "report.md", initial_comment="hourly")
    get_url, upload, complete = rec.requests
    assert get_url.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert get_url.form()["filename"] == "report.md" and get_url.form()["length"] == "11"
    assert (upload.method, upload.path, upload.body) == ("POST", "/upload/v1/abc", b"hello world")
    form = complete.form()
    assert json.loads(form["files"]) == [{"id": "F0ABC", "title": "report.md"}]
    assert form["channel_id"] == "C123ABC456" and form["initial_comment"] == "hourly"
    assert result.ok and result.ids["file_id"] == "F0ABC"
