"""Run the sandbox in the foreground.

    python -m lead_assets.sandbox --port 0 --host 127.0.0.1 --state-file PATH [--population N|full] [--seed S]
                                  [--config-json '{"search_cap": 1000}']

When it listens it writes ``{"url", "pid", "host", "port", "seed", "population", "started_at"}``
to the state file (atomically), and removes the file again on SIGTERM/SIGINT if it still names
this process.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .population import population_setting
from .server import SandboxConfig, SandboxServer


def write_state(path: Path, state: dict) -> None:
    """Write ``state`` as JSON via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, path)


def _remove_state_if_ours(path: Path) -> None:
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _population(text: str) -> int | str:
    try:
        return population_setting(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve until a signal arrives."""
    parser = argparse.ArgumentParser(prog="python -m lead_assets.sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    parser.add_argument("--state-file", type=Path, help="where to record {url, pid} once listening")
    parser.add_argument(
        "--population", type=_population, help="number of people records (default 6000) or a profile: full"
    )
    parser.add_argument("--seed", type=int, help="population seed (default 7)")
    parser.add_argument("--config-json", help="JSON object merged into the default SandboxConfig")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    data = json.loads(args.config_json) if args.config_json else {}
    if args.seed is not None:
        data["seed"] = args.seed
    if args.population is not None:
        data["population"] = args.population
    config = SandboxConfig.from_dict(data)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    started = time.time()
    server = SandboxServer(config, host=args.host, port=args.port).start()
    state = {
        "url": server.base_url,
        "pid": os.getpid(),
        "host": server.host,
        "port": server.port,
        "seed": config.seed,
        "population": config.population,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
    }
    if args.state_file:
        write_state(args.state_file, state)
    logging.getLogger("lead_assets.sandbox").info(
        "sandbox listening on %s (seed %s, %s people, ready in %.2fs)",
        server.base_url,
        config.seed,
        config.population,
        time.time() - started,
    )
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        if args.state_file:
            _remove_state_if_ours(args.state_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
