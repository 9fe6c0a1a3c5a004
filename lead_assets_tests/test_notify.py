"""Notifiers over real sockets: Slack against the sandbox, email against a local SMTP server.

Slack: what is posted is read back from the sandbox; 429 and 5xx are retried within the budget;
Slack down, rate-limited beyond the budget or refusing the token is logged and returned, never
raised, and the token never reaches the log. Email: a tiny threaded SMTP server (EHLO, AUTH
PLAIN, MAIL, RCPT, DATA) started by the tests; aiosmtpd is not a dependency.
"""

from __future__ import annotations

import base64
import email
import hashlib
import logging
import socket
import socketserver
import threading
from email import policy

import pytest
import requests

from lead_assets.clients.email_notifier import EmailNotifier, SmtpSettings
from lead_assets.clients.notify import Notifier
from lead_assets.clients.slack_notifier import SlackNotifier, api_base_url
from lead_assets.core.alert_rules import Alert
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sandbox.slack import channel_id

TOKEN = "xoxb-sandbox-token"
CHANNEL = "lead-sprint"


# --------------------------------------------------------------------------------------------
# Fixtures.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=50)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def reset(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)


def configure(sandbox, **changes):
    r = requests.post(f"{sandbox.base_url}/__sandbox/config", json=changes, timeout=5)
    assert r.status_code == 200, r.text


def slack_stats(sandbox):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["slack"]


class Sleeps(list):
    """A fake sleep that records the waits (tests stay fast and can assert on Retry-After)."""

    def __call__(self, seconds):
        self.append(seconds)


def notifier(sandbox, sleeps=None, **kwargs):
    return SlackNotifier(TOKEN, f"#{CHANNEL}", sandbox.url("slack"), sleep=sleeps if sleeps is not None else Sleeps(),
                         **kwargs)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        srv = self.server
        srv.connections += 1
        if srv.fail_connections > 0:  # a server that accepts and hangs up ("down" mid-restart)
            srv.fail_connections -= 1
            return
        self.reply("220 test-smtp ready")
        sender, rcpts, authed = None, [], False
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode().rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb):].strip()
            if verb == "EHLO":
                self.wfile.write(b"250-test-smtp\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
            elif verb == "HELO":
                self.reply("250 test-smtp")
            elif verb == "AUTH":
                mech, _, initial = arg.partition(" ")
                if mech.upper() != "PLAIN":
                    self.reply("504 unsupported")
                    continue
                if not initial:
                    self.reply("334 ")
                    initial = self.rfile.readline().decode().strip()
                _, user, password = base64.b64decode(initial).decode().split("\0")
                authed = (user, password) == srv.credentials
                self.reply("235 ok" if authed else "535 5.7.8 authentication failed")
            elif verb == "MAIL":
                if srv.credentials and not authed:
                    self.reply("530 authentication required")
                elif srv.tempfail > 0:
                    srv.tempfail -= 1
                    self.reply("451 4.3.0 try again later")
                else:
                    sender, rcpts = arg.split(":", 1)[1].strip(" <>").split(">")[0], []
                    self.reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(arg.split(":", 1)[1].strip(" <>"))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 end with .")
                lines = []
                while True:
                    data = self.rfile.readline()
                    if data in (b".\r\n", b""):
                        break
                    lines.append(data[1:] if data.startswith(b"..") else data)
                srv.messages.append({"from": sender, "to": rcpts, "data": b"".join(lines)})
                self.reply("250 queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, credentials=None):
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        self.credentials = credentials
        self.messages: list[dict] = []
        self.connections = 0
        self.tempfail = 0
        self.fail_connections = 0

    @property
    def port(self) -> int:
        return self.server_address[1]


@pytest.fixture
def smtp():
    server = SmtpServer(credentials=("alerts", "s3cret!pw"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def smtp_url(server, password="s3cret%21pw"):
    return f"smtp://alerts:{password}@127.0.0.1:{server.port}"


# --------------------------------------------------------------------------------------------
# Slack.
# --------------------------------------------------------------------------------------------


def test_base_url_gets_api_suffix_once():
    assert api_base_url(None) == "https://slack.com/api/"
    assert api_base_url("http://127.0.0.1:1/slack") == "http://127.0.0.1:1/slack/api/"
    assert api_base_url("https://slack.com/api/") == "https://slack.com/api/"


def test_post_is_read_back_exactly(sandbox):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*bold* report"}}]
    result = notifier(sandbox).post("hourly report", blocks=blocks)
    assert result.ok and result.attempts == 1 and result.ids["channel_id"] == channel_id(CHANNEL)
    [msg] = slack_stats(sandbox)["messages"]
    assert (msg["text"], msg["blocks"], msg["ts"]) == ("hourly report", blocks, result.ids["ts"])


def test_429_is_retried_after_retry_after_then_succeeds(sandbox):
    configure(sandbox, faults={"slack": {"fail_next": 1, "fail_next_kind": "429"}})
    sleeps = Sleeps()
    result = notifier(sandbox, sleeps).post("after a 429")
    assert result.ok and result.attempts == 2
    assert sleeps == [1.0]  # the sandbox's Retry-After
    assert [m["text"] for m in slack_stats(sandbox)["messages"]] == ["after a 429"]


def test_real_channel_limit_is_waited_out(sandbox):
    n = notifier(sandbox, sleeps=__import__("time").sleep)  # real sleeps: the window must really pass
    assert n.post("one").ok
    second = n.post("two")
    assert second.ok and second.attempts == 2
    assert [m["text"] for m in slack_stats(sandbox)["messages"]] == ["one", "two"]


def test_5xx_is_retried_within_the_budget(sandbox):
    configure(sandbox, faults={"slack": {"fail_next": 2, "fail_next_kind": "503"}})
    sleeps = Sleeps()
    result = notifier(sandbox, sleeps).post("after two 503s")
    assert result.ok and result.attempts == 3 and len(sleeps) == 2


def test_rate_limit_beyond_the_budget_gives_up_at_once(sandbox, caplog):
    configure(sandbox, windows={"second": 120})  # Retry-After ~120 s, budget 20 s
    n = notifier(sandbox)
    assert n.post("first").ok
    sleeps = Sleeps()
    n.sleep = sleeps
    with caplog.at_level(logging.WARNING):
        result = n.post("second")
    assert not result.ok and "ratelimited" in result.detail and sleeps == []
    assert "ratelimited" in caplog.text


def test_persistent_5xx_exhausts_the_attempts(sandbox):
    configure(sandbox, faults={"slack": {"fail_next": 10, "fail_next_kind": "500"}})
    sleeps = Sleeps()
    result = notifier(sandbox, sleeps, max_attempts=3).post("never")
    assert not result.ok and result.attempts == 3 and len(sleeps) == 2
    assert slack_stats(sandbox)["messages"] == []


def test_slack_down_is_logged_not_raised_and_the_token_stays_secret(caplog):
    secret = "xoxb-very-secret-token"
    n = SlackNotifier(secret, "#x", f"http://127.0.0.1:{closed_port()}", sleep=Sleeps())
    with caplog.at_level(logging.DEBUG):
        result = n.post("nobody listens")
        upload = n.upload(b"png", "chart.png")
    assert not result.ok and result.attempts == 4 and "refused" in result.detail.lower()
    assert not upload.ok
    assert secret not in caplog.text and secret not in repr(n)


@pytest.mark.parametrize(("token", "channel", "error"), [("xoxb-wrong", CHANNEL, "invalid_auth"),
                                                         (TOKEN, "#nowhere", "channel_not_found")])
def test_app_errors_are_not_retried(sandbox, token, channel, error):
    sleeps = Sleeps()
    result = SlackNotifier(token, channel, sandbox.url("slack"), sleep=sleeps).post("x")
    assert not result.ok and result.attempts == 1 and error in result.detail and sleeps == []


def test_upload_v2_file_arrives_byte_for_byte(sandbox):
    n = notifier(sandbox)
    posted = n.post("report")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(200)) * 50
    result = n.upload(png, "progress.png", title="Progress", thread_ts=posted.ids["ts"])
    assert result.ok, result
    [f] = slack_stats(sandbox)["files"]
    assert f["id"] == result.ids["file_id"] and f["title"] == "Progress"
    assert f["channels"] == [channel_id(CHANNEL)] and f["thread_ts"] == posted.ids["ts"]
    assert f["sha256"] == hashlib.sha256(png).hexdigest()
    assert sandbox.router.apps["slack"].file_content(f["id"]) == png
    stats = slack_stats(sandbox)["requests"]
    assert set(stats) >= {"files.getUploadURLExternal", "upload", "files.completeUploadExternal"}


def test_failed_upload_step_is_retried(sandbox):
    configure(sandbox, faults={"slack": {"fail_next": 1, "fail_next_kind": "500", "paths": ["/upload/v1/"]}})
    result = notifier(sandbox).upload(b"abc", "a.png")
    assert result.ok and result.attempts == 2
    stats = slack_stats(sandbox)
    assert len(stats["files"]) == 1 and stats["uploads_pending"] == 1  # the first URL was abandoned


# --------------------------------------------------------------------------------------------
# Email.
# --------------------------------------------------------------------------------------------


def test_smtp_url_parsing_hides_the_password():
    s = SmtpSettings.from_url("smtp://me%40x.io:p%40ss@mail.example:2525?starttls=0")
    assert (s.host, s.port, s.user, s.password, s.tls, s.starttls) == ("mail.example", 2525, "me@x.io", "p@ss",
                                                                         False, "never")
    assert "p@ss" not in repr(s)
    assert SmtpSettings.from_url("smtps://mail.example").port == 465
    with pytest.raises(ValueError):
        SmtpSettings.from_url("http://mail.example")


def test_email_is_delivered_with_attachments(smtp):
    n = EmailNotifier(smtp_url(smtp), ["ops@example.com", " lead@example.com "], "sprint@example.com",
                      sleep=Sleeps())
    result = n.send("hourly report", "plain text body", "<p>html body</p>", [("chart.png", b"\x89PNG..", "image/png")])
    assert result.ok and result.attempts == 1
    [m] = smtp.messages
    assert m["from"] == "sprint@example.com" and m["to"] == ["ops@example.com", "lead@example.com"]
    msg = email.message_from_bytes(m["data"], policy=policy.default)
    assert msg["Subject"] == "hourly report" and msg["Message-ID"] == result.ids["message_id"]
    assert msg.get_body(("plain",)).get_content().strip() == "plain text body"
    assert msg.get_body(("html",)).get_content().strip() == "<p>html body</p>"
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "chart.png" and att.get_content() == b"\x89PNG.."


def test_temporary_smtp_failure_is_retried(smtp):
    smtp.tempfail = 1
    sleeps = Sleeps()
    result = EmailNotifier(smtp_url(smtp), ["ops@example.com"], sleep=sleeps).send("s", "t")
    assert result.ok and result.attempts == 2 and len(sleeps) == 1 and len(smtp.messages) == 1


def test_dropped_connection_is_retried(smtp):
    smtp.fail_connections = 1
    result = EmailNotifier(smtp_url(smtp), ["ops@example.com"], sleep=Sleeps()).send("s", "t")
    assert result.ok and result.attempts == 2


def test_bad_password_fails_once_without_leaking_it(smtp, caplog):
    sleeps = Sleeps()
    with caplog.at_level(logging.DEBUG):
        result = EmailNotifier(smtp_url(smtp, "wrong-pw-123"), ["ops@example.com"], sleep=sleeps).send("s", "t")
    assert not result.ok and "535" in result.detail and result.attempts == 1 and sleeps == []
    assert "wrong-pw-123" not in caplog.text and "wrong-pw-123" not in result.detail
    assert smtp.messages == []


def test_smtp_down_is_logged_not_raised():
    sleeps = Sleeps()
    result = EmailNotifier(f"smtp://127.0.0.1:{closed_port()}", ["ops@example.com"], sleep=sleeps).send("s", "t")
    assert not result.ok and result.attempts == 3 and len(sleeps) == 2


def test_subject_newlines_cannot_inject_headers(smtp):
    EmailNotifier(smtp_url(smtp), ["ops@example.com"], sleep=Sleeps()).send("hi\r\nBcc: evil@example.com", "t")
    msg = email.message_from_bytes(smtp.messages[0]["data"], policy=policy.default)
    assert msg["Bcc"] is None and msg["Subject"] == "hi Bcc: evil@example.com"


# --------------------------------------------------------------------------------------------
# Fan-out.
# --------------------------------------------------------------------------------------------


def alert(event="fired"):
    return Alert("error_rate", "error_rate", event, "warning", "Vendor error rate above 5%",
                 "12 of 100 vendor calls failed <script>", 0.12, 0.05)


def test_without_settings_alerts_go_to_the_log_only(caplog):
    with caplog.at_level(logging.INFO, logger="lead_assets.alerts"):
        n = Notifier.from_env({})
        results = n.send_alert(alert())
    assert n.channels == ["log"]
    assert list(results) == ["log"] and results["log"].ok
    assert "[FIRING] Vendor error rate above 5%" in caplog.text
    assert "not configured" in caplog.text


def test_fan_out_to_slack_email_and_log(sandbox, smtp):
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_CHANNEL": CHANNEL, "SLACK_BASE_URL": sandbox.url("slack"),
           "SMTP_URL": smtp_url(smtp), "ALERT_EMAIL_TO": "ops@example.com"}
    n = Notifier.from_env(env)
    assert n.channels == ["slack", "email", "log"]
    results = n.send_alert(alert())
    assert all(r.ok for r in results.values()), results
    [msg] = slack_stats(sandbox)["messages"]
    # vendor text is escaped for Slack mrkdwn: no link or mention can be formed
    assert msg["text"] == (":rotating_light: [FIRING] Vendor error rate above 5%: "
                           "12 of 100 vendor calls failed &lt;script&gt;")
    assert email.message_from_bytes(smtp.messages[0]["data"], policy=policy.default)["Subject"].startswith(
        "[lead-sprint] [FIRING]")


def test_report_goes_out_with_its_chart_in_the_thread(sandbox, smtp):
    n = Notifier(SlackNotifier(TOKEN, CHANNEL, sandbox.url("slack"), sleep=Sleeps()),
                 EmailNotifier(smtp_url(smtp), ["ops@example.com"], sleep=Sleeps()))
    png = b"\x89PNG\r\n\x1a\nchart"
    results = n.send_report("*hourly* text", subject="hourly report", png=png, png_name="progress.png")
    assert results["slack"].ok and results["email"].ok and results["log"].ok
    stats = slack_stats(sandbox)
    [msg], [f] = stats["messages"], stats["files"]
    assert msg["text"] == "*hourly* text"
    assert f["thread_ts"] == msg["ts"] and f["name"] == "progress.png"
    assert sandbox.router.apps["slack"].file_content(f["id"]) == png
    mail = email.message_from_bytes(smtp.messages[0]["data"], policy=policy.default)
    assert [a.get_filename() for a in mail.iter_attachments()] == ["progress.png"]


def test_broken_channels_never_raise_from_the_fan_out(tmp_path):
    n = Notifier(SlackNotifier(TOKEN, CHANNEL, f"http://127.0.0.1:{closed_port()}", sleep=Sleeps()),
                 EmailNotifier(f"smtp://127.0.0.1:{closed_port()}", ["ops@example.com"], sleep=Sleeps()))
    results = n.send_report("text", subject="s", png=b"x", attachments=[tmp_path / "missing.html"])
    assert not results["slack"].ok and not results["email"].ok and results["log"].ok
    assert not any(r.ok for r in [n.send_alert(alert())["slack"]])
