"""/detection, /recovery and /defenses in a real browser (Debian's Chromium, as tests/app/test_browser.py): the
charts draw, no exception or error alert shows, and the gallery sections say where their numbers come from."""

from __future__ import annotations

import pytest

from tests.app.test_browser import CHROMIUM, browser, new_page, problems, server, wait_until_idle  # noqa: F401

#: path -> (charts drawn by default, a phrase the page must show once its gallery section rendered)
VIEWS = {"detection": (3, "AUC [95% CI]"), "recovery": (2, "recoverability ρ ± SE"),
         "defenses": (4, "low-order share")}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")]


@pytest.mark.parametrize("path", list(VIEWS))
def test_defense_views_draw_their_charts(server, browser, path, tmp_path):  # noqa: F811
    charts, phrase = VIEWS[path]
    page = new_page(browser, 1440, 1800)
    try:
        page.goto(f"{server}/{path}?images=4", wait_until="domcontentloaded")
        wait_until_idle(page, charts)
        assert problems(page) == []
        assert page.locator(".js-plotly-plot .main-svg").count() >= charts
        text = page.inner_text("body")
        assert phrase in text
        assert "precomputed over" in text or "computed now over" in text
        page.screenshot(path=str(tmp_path / f"{path}.png"), full_page=True)
    finally:
        page.close()
