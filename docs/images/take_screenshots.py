"""Re-take the README's UI screenshots from a running Dagster UI (after `make demo FULL=1`, `make dev FULL=1`).

Needs Playwright (`pip install playwright`) and a Chromium (`apt-get install chromium`); not a
project dependency. Usage: python docs/images/take_screenshots.py http://127.0.0.1:3000 RUN_ID
"""

import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

base, run_id = sys.argv[1], sys.argv[2]
out = Path(__file__).parent
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    page.goto(f"{base}/asset-groups", wait_until="networkidle")
    try:
        page.get_by_role("button", name="Skip").click(timeout=5000)  # the first-visit community dialog
    except Exception:
        pass
    page.goto(f"{base}/assets/final_report?view=lineage&lineageScope=upstream&lineageDepth=6", wait_until="networkidle")
    time.sleep(5)
    page.screenshot(path=str(out / "asset_graph.png"))
    page.goto(f"{base}/runs/{run_id}", wait_until="networkidle")
    time.sleep(6)
    page.screenshot(path=str(out / "run.png"))
    page.set_viewport_size({"width": 1600, "height": 1300})
    page.goto(f"{base}/assets/sprint_progress?view=overview", wait_until="networkidle")
    time.sleep(4)
    page.get_by_role("button", name="Plots").click()
    time.sleep(4)
    page.get_by_text("Metadata", exact=True).first.scroll_into_view_if_needed()
    page.mouse.wheel(0, 380)
    time.sleep(2)
    page.screenshot(path=str(out / "progress_plots.png"))
    browser.close()
