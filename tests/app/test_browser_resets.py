"""No silent resets in a real browser: on /attack and /interactions, values set in a form and submitted survive
a detour through the sidebar's Upload and back to the Gallery (the form shows them, the caption states them, and
the next run uses them). Streamlit drops or resets the state of widgets that a run did not draw; the dashboard
sets every widget from the session's choices instead (mimi.ui.state.show)."""

from __future__ import annotations

import pytest

from tests.app.test_browser import browser, new_page, server, wait_until_idle  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow
FAST = "grid=4x4&samples=2&pcount=4&orders=coarse"


def values(page, labels: list[str]) -> dict[str, str]:
    return {label: page.get_by_role("spinbutton", name=label, exact=True).input_value() for label in labels}


def detour_through_upload(page) -> None:
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("radio", name="Upload").click()
    page.get_by_text("Upload an image, or switch back to the gallery.").wait_for()
    sidebar.get_by_role("radio", name="Gallery").click()


def captions(page) -> str:
    shown = page.locator('[data-testid="stCaptionContainer"]')
    return " ".join(shown.nth(k).inner_text() for k in range(shown.count()))


@pytest.mark.parametrize("path, form, submit, charts, chosen, caption", [
    ("attack?protocol=eps", "attack", "Run attack", 2,
     {"ε (perturbation budget)": "0.200", "steps": "3"}, "ε = 0.2, 3 steps"),
    (f"interactions?{FAST}", "interactions", "Compute", 2,
     {"pairs drawn (0 = all)": "3", "samples per pair and order": "3"}, "3 pairs drawn"),
])
def test_submitted_values_survive_upload_then_gallery(server, browser, path, form, submit, charts, chosen, caption):
    page = new_page(browser, 1400, 1000)
    try:
        page.goto(f"{server}/{path}", wait_until="domcontentloaded")
        wait_until_idle(page, charts)
        for label, value in chosen.items():
            page.get_by_role("spinbutton", name=label, exact=True).fill(value)
        page.get_by_role("button", name=submit).first.click()
        page.get_by_text(caption).first.wait_for()
        wait_until_idle(page, charts)
        assert values(page, list(chosen)) == chosen
        detour_through_upload(page)
        wait_until_idle(page, charts)
        assert values(page, list(chosen)) == chosen
        assert caption in captions(page)
    finally:
        page.close()
