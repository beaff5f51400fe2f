"""/lesson in a real browser (Chromium): every part renders its charts, with no chart text overlapping or running
out at 1000 and 1400 px; Next and Back work and the URL follows them and restores a part; the projector mode
collapses the sidebar, and the last part leads to /study."""

from __future__ import annotations

import time

import pytest

from tests.app.test_browser import (CHROMIUM, browser, layout_faults, new_page, problems, server,  # noqa: F401
                                    wait_until_idle)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")]
CHARTS = {1: 1, 2: 2, 3: 2, 4: 2}   # part 1: the verdicts; the claims: the study's chart and the image's


def open_part(page, server, query: str, charts: int) -> None:  # noqa: F811
    page.goto(f"{server}/lesson?{query}", wait_until="domcontentloaded")
    wait_until_idle(page, charts)


def heading(page) -> str:
    return page.locator(".stMainBlockContainer h3").first.inner_text()


def click(page, name: str, charts: int) -> None:
    page.get_by_role("button", name=name).click()
    page.wait_for_timeout(500)
    wait_until_idle(page, charts)


def sidebar_shown(page) -> bool:
    box = page.locator('[data-testid="stSidebar"]').bounding_box()
    return box is not None and box["width"] > 0 and box["x"] + box["width"] > 0


@pytest.mark.parametrize("width", [1000, 1400])
def test_every_part_renders_its_charts_and_their_texts_fit(server, browser, width):  # noqa: F811
    page = new_page(browser, width, 1800)
    try:
        for part, charts in CHARTS.items():
            open_part(page, server, f"part={part}", charts)
            assert problems(page) == [], part
            assert page.locator(".js-plotly-plot .main-svg").count() >= charts, part
            assert not page.get_by_role("button", name="Run it").count()   # the study holds the image's jobs
            assert layout_faults(page) == [], part
    finally:
        page.close()


def test_next_and_back_move_the_part_and_the_url_restores_it(server, browser):  # noqa: F811
    page = new_page(browser, 1400, 1200)
    try:
        open_part(page, server, "", 1)
        assert "part=" not in page.url
        click(page, "Next: Claim (a) →", 2)
        assert page.url.endswith("/lesson?part=2") and heading(page).startswith("Claim (a)")
        click(page, "Next: Claim (b) →", 2)
        assert page.url.endswith("part=3") and heading(page).startswith("Claim (b)")
        click(page, "← Back", 2)
        assert page.url.endswith("part=2") and heading(page).startswith("Claim (a)")
        page.reload(wait_until="domcontentloaded")                      # the URL restores the part
        wait_until_idle(page, 2)
        assert heading(page).startswith("Claim (a)")
        open_part(page, server, "part=4", 2)
        assert heading(page).startswith("Claim (c)")
        page.get_by_role("button", name="The full study →").click()     # the lesson ends at /study
        page.wait_for_url("**/study*", timeout=60_000)
        page.wait_for_selector("h1:has-text('Study')")
    finally:
        page.close()


def test_a_part_that_does_not_exist_opens_part_1_with_a_notice(server, browser):  # noqa: F811
    page = new_page(browser, 1400, 1200)
    try:
        open_part(page, server, "part=99", 1)
        assert "part=99 is out of bounds; allowed: 1 … 4" in page.locator('[data-testid="stAlert"]').first.inner_text()
        assert page.locator(".stMainBlockContainer h3").count() == 0 and "part=" not in page.url   # the introduction
    finally:
        page.close()


def test_projector_mode_collapses_the_sidebar_and_enlarges_the_text(server, browser):  # noqa: F811
    page = new_page(browser, 1400, 1000)
    try:
        open_part(page, server, "part=2", 2)
        size = page.locator(".stMainBlockContainer p").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert sidebar_shown(page)
        page.get_by_text("Projector mode").click()
        page.wait_for_url("**projector=1*", timeout=60_000)
        deadline = time.time() + 60
        while sidebar_shown(page) and time.time() < deadline:
            page.wait_for_timeout(250)
        assert not sidebar_shown(page)
        larger = page.locator(".stMainBlockContainer p").first.evaluate(
            "e => parseFloat(getComputedStyle(e).fontSize)")
        assert larger > 1.2 * size
        page.reload(wait_until="domcontentloaded")                      # the URL restores it
        page.wait_for_selector(".js-plotly-plot .main-svg")
        page.wait_for_timeout(1000)
        assert not sidebar_shown(page)
        page.get_by_text("Projector mode").click()                     # off: the sidebar opens again
        deadline = time.time() + 60
        while (not sidebar_shown(page) or "projector" in page.url) and time.time() < deadline:
            page.wait_for_timeout(250)
        assert sidebar_shown(page) and "projector" not in page.url
    finally:
        page.close()
