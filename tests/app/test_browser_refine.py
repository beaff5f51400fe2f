"""Anytime order profiles in a real browser: the chart comes after its first round and redraws with smaller error
bars, another session is served meanwhile, and Stop ends the refinement, keeping what was computed."""

from __future__ import annotations

import re
import time

from tests.app.test_browser import pytestmark  # noqa: F401  (slow, needs chromium)
from tests.app.test_browser import CHROMIUM, browser, new_page, problems, server, wait_until_idle  # noqa: F401

#: A request of its own (nothing cached or precomputed), refined for up to 90 s.
REQUEST = "interactions?seed=4242&budget=90"
STATUS = re.compile(r"fmnist-standard\*?\*?: (\d+) rounds? in ([\d.]+) s of a 90 s budget, largest SE ±([\d.e+-]+): "
                    r"([^\n]+)")


def status(page):
    """(rounds, seconds, largest SE, state) of model A's chart, or None before its first round."""
    found = STATUS.search(page.inner_text("body"))
    return None if found is None else (int(found[1]), float(found[2]), float(found[3]), found[4].strip())


def test_refining_redraws_with_smaller_ses_serves_others_and_stops(server, browser):
    page, other = new_page(browser), new_page(browser)
    try:
        start = time.time()
        page.goto(f"{server}/{REQUEST}", wait_until="domcontentloaded")
        page.wait_for_function("() => /fmnist-standard\\*?\\*?: 1 round in/.test(document.body.innerText)",
                               timeout=120_000)
        first = status(page)
        assert first[0] == 1 and "still refining" in first[3], first
        page.wait_for_selector(".js-plotly-plot", timeout=10_000)      # the chart is there after one round
        # another session opens the attack page meanwhile: its charts come while the first still refines
        other.goto(f"{server}/attack?img=17", wait_until="domcontentloaded")
        wait_until_idle(other, 4, timeout_s=120)
        assert problems(other) == []
        later = status(page)
        assert "still refining" in later[3], later                        # served while the first session refines
        deadline = time.time() + 120
        while status(page)[0] < 3 and time.time() < deadline:
            page.wait_for_timeout(500)
        redrawn = status(page)
        assert redrawn[0] >= 3 and redrawn[2] < first[2], (first, redrawn)   # redrawn, with smaller error bars
        page.get_by_role("button", name="Stop refining").click()
        page.wait_for_function("() => document.body.innerText.includes('stopped by the user')", timeout=60_000)
        stopped = status(page)
        assert stopped[0] >= redrawn[0] and stopped[1] < 90 and time.time() - start < 90 + 120
        wait_until_idle(page, 2, timeout_s=60)
        assert problems(page) == [] and page.get_by_role("button", name="Refine 90 s more").count() == 1
    finally:
        page.close()
        other.close()
