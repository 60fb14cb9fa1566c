"""Run labels: carrier and trigger go into the run's tags (Prefect cannot filter runs by
parameter), so "every DHL run started by an upload" is one filter in the UI."""

from __future__ import annotations

import os

from prefect.runtime import deployment, flow_run


async def label_run(*, carriers: list[str] | None = None) -> list[str]:
    """Add `carrier:<c>` and `trigger:<how>` tags to the current flow run."""
    if not flow_run.id:
        return []
    tags = set(flow_run.tags or [])
    new = {f"carrier:{c}" for c in carriers or []}
    if not any(t.startswith("trigger:") for t in tags):
        if "auto-scheduled" in tags:
            new.add("trigger:schedule")
        elif deployment.id:  # started from the UI or the API
            new.add("trigger:manual")
        elif os.environ.get("LIEFERN_TRIGGER"):
            new.add(f"trigger:{os.environ['LIEFERN_TRIGGER']}")
        else:
            new.add("trigger:cli")
    if new - tags:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            await client.update_flow_run(flow_run.id, tags=sorted(tags | new))
    return sorted(tags | new)
