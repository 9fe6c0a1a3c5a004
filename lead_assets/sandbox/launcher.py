"""Start a detached sandbox once and share it: ``ensure_sandbox`` / ``stop_sandbox``.

The state file (``{"url", "pid", ...}``, written by ``python -m lead_assets.sandbox``) is the
rendezvous: every caller that passes the same path gets the same sandbox. A lock file next to it
(``<state>.lock``, ``fcntl.flock``) makes "check, else start" atomic across processes, so two
Dagster runs or a test and ``make demo`` starting at once do not start two servers. The server's
output goes to ``<state>.log``.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .population import population_setting

# A ceiling, not a wait: the full population takes ~3 s to build on an idle 2-core host and
# several times that while a sprint's runs load it.
START_TIMEOUT_S = 60.0

# Children this process started, so stop_sandbox can reap them (no zombies in long test runs).
_children: dict[int, subprocess.Popen] = {}


def _read_state(state_file: Path) -> dict | None:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("url") else None


def health(url: str, timeout: float = 1.0) -> dict | None:
    """The sandbox's ``/__sandbox/health`` answer, or None when nothing healthy answers."""
    try:
        with urllib.request.urlopen(f"{url}/__sandbox/health", timeout=timeout) as resp:  # noqa: S310 - loopback
            body = json.loads(resp.read().decode())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return body if isinstance(body, dict) and body.get("ok") is True else None


@contextmanager
def _locked(state_file: Path):
    lock_path = state_file.with_name(state_file.name + ".lock")
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _log_path(state_file: Path) -> Path:
    return state_file.with_name(state_file.stem + ".log")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def recorded_sandbox_url(state_file: Path | str) -> str | None:
    """The URL ``state_file`` records while its sandbox process runs, else None.

    A read, never a start: no lock, no request (loading the Dagster definitions calls it).
    """
    state = _read_state(Path(state_file))
    pid = state.get("pid") if state else None
    if not isinstance(pid, int) or not (_is_sandbox_process(pid) and _alive(pid)):
        return None
    return state["url"]


def ensure_sandbox(state_file: Path | str, **config: Any) -> str:
    """The base URL of the healthy sandbox recorded in ``state_file``; start one if there is none.

    ``config`` holds :class:`~lead_assets.sandbox.server.SandboxConfig` fields (``seed``,
    ``population``: a number of records or a profile name such as ``"full"``, ``search_cap`` ...)
    for a sandbox that has to be started. A running sandbox
    with a different seed or population raises RuntimeError (stop it first); other settings can
    be changed live with ``POST /__sandbox/config``.
    """
    state_file = Path(state_file).resolve()
    state_file.parent.mkdir(parents=True, exist_ok=True)
    with _locked(state_file):
        state = _read_state(state_file)
        if state:
            info = _wait_healthy(state)
            if info is not None:
                wanted = dict(config)
                if "population" in wanted:
                    wanted["population"] = population_setting(wanted["population"])
                for key in ("seed", "population"):
                    if key in wanted and info.get(key) != wanted[key]:
                        raise RuntimeError(
                            f"the sandbox at {state['url']} runs {key}={info.get(key)}, not {wanted[key]}; "
                            f"stop it first (stop_sandbox({str(state_file)!r}))"
                        )
                return state["url"]
            # Stale: the process is gone, or alive but deaf; make sure it is gone before replacing it.
            pid = state.get("pid")
            if isinstance(pid, int) and _is_sandbox_process(pid):
                _terminate(pid)
            state_file.unlink(missing_ok=True)
        return _start(state_file, config)


def _wait_healthy(state: dict, patience: float = 5.0) -> dict | None:
    """Health of a recorded sandbox; a live but busy process gets ``patience`` seconds to answer."""
    info = health(state["url"], timeout=2.0)
    pid = state.get("pid")
    deadline = time.monotonic() + patience
    while info is None and isinstance(pid, int) and _is_sandbox_process(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
        info = health(state["url"], timeout=2.0)
    return info


def _start(state_file: Path, config: dict[str, Any]) -> str:
    cmd = [
        sys.executable,
        "-m",
        "lead_assets.sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--state-file",
        str(state_file),
    ]
    extra = dict(config)
    if "seed" in extra:
        cmd += ["--seed", str(int(extra.pop("seed")))]
    if "population" in extra:
        # An unknown profile fails here, not in a detached process.
        cmd += ["--population", str(population_setting(extra.pop("population")))]
    if extra:
        cmd += ["--config-json", json.dumps(extra)]
    log_path = _log_path(state_file)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _children[proc.pid] = proc
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _children.pop(proc.pid, None)
            raise RuntimeError(f"the sandbox exited with code {proc.returncode}:\n{_tail(log_path)}")
        state = _read_state(state_file)
        if state and state.get("pid") == proc.pid and health(state["url"]) is not None:
            return state["url"]
        time.sleep(0.05)
    _terminate(proc.pid)
    raise RuntimeError(
        f"the sandbox did not become healthy within {START_TIMEOUT_S:.0f}s:\n{_tail(log_path)}"
    )


def _is_sandbox_process(pid: int) -> bool:
    # Guard against a recycled pid: only signal a process that is running our module.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"lead_assets.sandbox" in cmdline


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie has exited


def _terminate(pid: int, timeout: float = 5.0) -> None:
    proc = _children.pop(pid, None)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return
        if proc is None and not _alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if proc is not None:
        proc.wait(timeout=timeout)


def stop_sandbox(state_file: Path | str) -> bool:
    """Stop the sandbox recorded in ``state_file`` (if it is ours and running); True if one was stopped."""
    state_file = Path(state_file).resolve()
    if not state_file.exists():
        return False
    with _locked(state_file):
        state = _read_state(state_file)
        stopped = False
        pid = state.get("pid") if state else None
        if isinstance(pid, int) and (pid in _children or _is_sandbox_process(pid)):
            _terminate(pid)
            stopped = True
        state_file.unlink(missing_ok=True)
        return stopped
