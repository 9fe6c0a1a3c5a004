"""The vendor sandbox: a local emulator of the vendors' HTTP APIs over a synthetic population.

It speaks the vendors' real contracts (paths, auth, bodies, limits, error shapes) so the project's
own HTTP clients, ``make demo`` and the tests run against it unchanged; only the base URL differs.
It imports nothing from the rest of ``lead_assets`` and nothing there imports it, except the CLI
and the tests that start it.

* :func:`start_sandbox` runs one in-process (a daemon thread), for tests;
* ``python -m lead_assets.sandbox`` runs one in the foreground;
* :func:`lead_assets.sandbox.launcher.ensure_sandbox` starts or reuses a detached one.
"""

from .server import SandboxConfig, SandboxServer, start_sandbox

__all__ = ["SandboxConfig", "SandboxServer", "start_sandbox"]
