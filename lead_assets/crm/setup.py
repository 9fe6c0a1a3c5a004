"""`lead-sprint crm setup`: create what the mapping needs in the CRM, then show the validated mapping."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from lead_assets.core.crm_config import CrmConfig
from lead_assets.core.crm_mapping import MappingReport


@dataclass
class SetupReport:
    """What `crm_setup` did and the mapping it validated afterwards."""

    crm: str
    created: list[str]
    existing: list[str]
    mapping: MappingReport

    def format(self) -> str:
        """Readable summary for the CLI."""
        lines = [
            f"{self.crm}: created {len(self.created)} propert{'y' if len(self.created) == 1 else 'ies'}"
            + (f" ({', '.join(self.created)})" if self.created else "")
        ]
        if self.existing:
            lines.append(f"already present: {', '.join(self.existing)}")
        lines += ["", self.mapping.format()]
        return "\n".join(lines)


def crm_setup(crm: str, client: Any, config: CrmConfig, log: logging.Logger | None = None) -> SetupReport:
    """Create the custom properties the mapping needs (where the CRM's API allows it), then validate it.

    Salesforce fields cannot be created through the APIs the export uses: the report lists
    what is missing for an admin to add in Setup.
    """
    from lead_assets.crm.registry import crm_adapter  # here: the adapters import this module

    return crm_adapter(crm).setup(client, config, log or logging.getLogger("lead_sprint.crm"))
