"""The dashboard in a real browser: `streamlit run app.py` on a free port, driven by Debian's Chromium.

Every path opens with its defaults, the plotly charts render, no exception or error alert shows,
and a screenshot is kept (in pytest's tmp dir; with MIMI_UPDATE_SCREENSHOTS=1 also in
docs/screenshots/ for the README). The shipped zoo is used when it has fmnist-standard and an
adversarially trained model (PGD-AT or TRADES), otherwise the seeded stand-ins of tests/conftest_app.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

import pytest

from mimi.bench.sessions import server as fresh_server
from tests.conftest_app import ROOT, make_zoo

CHROMIUM = Path("/usr/bin/chromium")
PATHS = {"home": "", "attack": "attack", "interactions": "interactions", "pairs": "pairs",
         "disentanglement": "disentanglement", "defenses": "defenses", "detection": "detection",
         "recovery": "recovery", "study": "study", "models": "models"}
CHARTS = {"home": 0, "attack": 4, "interactions": 4, "pairs": 2, "disentanglement": 1, "defenses": 4, "detection": 3,
          "recovery": 2, "study": 3, "models": 0}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")]


def shipped_zoo_ready() -> bool:
    """fmnist-standard and an adversarially trained model (PGD-AT, else TRADES) are in assets/zoo."""
    from mimi.models import zoo
    names = set(zoo.names())
    return "fmnist-standard" in names and bool(names & {"fmnist-pgd-at", "fmnist-trades"})


@contextlib.contextmanager
def streamlit_server(env: dict, log_dir: Path) -> Iterator[str]:
    """``streamlit run app.py`` on a free port with ``env``, until it answers its health check; its URL."""
    with fresh_server(env, log_dir / "streamlit.log") as (url, _pid):
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # The CPU may be shared with other jobs: a slow estimate must not stop a page at its confirmation button.
    env = {**os.environ, "MIMI_DEVICE": "cpu", "OMP_NUM_THREADS": "2", "MIMI_CONFIRM_SECONDS": "300"}
    if not shipped_zoo_ready():
        env["MIMI_ZOO_DIR"] = str(make_zoo(tmp_path_factory.mktemp("zoo")))
    with streamlit_server(env, tmp_path_factory.mktemp("server")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


def new_page(browser, width: int = 1500, height: int = 1000):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_navigation_timeout(180_000)   # the CPU may be shared with training jobs
    page.set_default_timeout(180_000)
    return page


def wait_until_idle(page, charts: int, timeout_s: float = 240) -> None:
    """Until the script stopped running and at least ``charts`` plotly charts have drawn."""
    deadline = time.time() + timeout_s
    page.wait_for_selector('[data-testid="stSidebar"]')
    page.wait_for_function("() => document.body.innerText.includes('cached results')")  # sidebar drawn
    page.wait_for_selector("h1")                                                       # the page began
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count()
        drawn = page.locator(".js-plotly-plot .main-svg").count()
        if not running and page.locator(".js-plotly-plot").count() >= charts and (charts == 0 or drawn):
            page.wait_for_timeout(500)
            if not page.locator('[data-testid="stStatusWidget"]').count():
                return
        page.wait_for_timeout(250)
    raise AssertionError(f"page did not finish within {timeout_s} s")


def problems(page) -> list[str]:
    shown = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
    return [shown.nth(k).inner_text()[:300] for k in range(shown.count())]


@pytest.mark.parametrize("name", list(PATHS))
def test_every_path_renders_its_charts_without_errors(server, browser, name, tmp_path):
    page = new_page(browser, 1440, 1800)
    try:
        page.goto(f"{server}/{PATHS[name]}", wait_until="domcontentloaded")   # at the defaults, as a teacher sees it
        wait_until_idle(page, CHARTS[name])
        assert problems(page) == []
        assert page.locator(".js-plotly-plot").count() >= CHARTS[name]
        page.wait_for_function(   # gallery thumbnails + preview (a page without charts may be idle before them)
            "() => document.querySelectorAll('[data-testid=\"stSidebar\"] img').length >= 10", timeout=60_000)
        shot = tmp_path / f"{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("MIMI_UPDATE_SCREENSHOTS"):
            target = ROOT / "docs" / "screenshots"
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, target / f"{name}.png")
    finally:
        page.close()


def test_clicking_a_cell_selects_it(server, browser):
    page = new_page(browser)
    try:
        page.goto(f"{server}/pairs", wait_until="domcontentloaded")
        wait_until_idle(page, 2)
        assert "cell (3, 3)" in page.inner_text("body")
        # Click the centre of cell (row 1, col 5) in the first model's clean map (subplot 2).
        box = page.evaluate("""() => {
            const gd = document.querySelector('.js-plotly-plot');
            const xa = gd._fullLayout.xaxis2, ya = gd._fullLayout.yaxis2, r = gd.getBoundingClientRect();
            return {x: r.left + xa._offset + xa.l2p(5), y: r.top + ya._offset + ya.l2p(1)};
        }""")
        page.mouse.click(box["x"], box["y"])
        page.wait_for_function("() => document.body.innerText.includes('cell (1, 5)')", timeout=120_000)
        wait_until_idle(page, 2)
        assert problems(page) == []
        # The form follows the click, so that pressing Show keeps the clicked cell.
        assert page.get_by_label("cell row").input_value() == "1"
        assert page.get_by_label("cell column").input_value() == "5"
        page.get_by_role("button", name="Show", exact=True).click()
        wait_until_idle(page, 2)
        assert "cell (1, 5)" in page.inner_text("body") and "cell (3, 3)" not in page.inner_text("body")
    finally:
        page.close()


def test_a_bad_upload_shows_a_message(server, browser, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"this is a text file, not an image" * 10)
    page = new_page(browser)
    try:
        page.goto(f"{server}/attack", wait_until="domcontentloaded")
        wait_until_idle(page, 4)
        page.get_by_text("Upload", exact=False).first.click()
        page.locator('[data-testid="stSidebar"] input[type="file"]').set_input_files(str(fake))
        page.wait_for_function("() => document.body.innerText.includes('not an image')", timeout=60_000)
        assert not page.locator('[data-testid="stException"]').count()
    finally:
        page.close()


def test_several_sessions_at_once(server, browser):
    pages = [new_page(browser, 1200, 900) for _ in range(3)]
    try:
        for k, page in enumerate(pages):   # three sessions, three images, all at once
            page.goto(f"{server}/interactions?img={k * 31}&samples=2&pcount=8", wait_until="domcontentloaded")
        for page in pages:
            wait_until_idle(page, 2)
            assert problems(page) == []
        texts = [page.inner_text("body") for page in pages]
        assert all(f"gallery #{k * 31}" in text for k, text in enumerate(texts))
    finally:
        for page in pages:
            page.close()


def test_the_compute_status_follows_other_sessions_without_a_rerun(server, browser):
    busy, watcher = new_page(browser), new_page(browser)
    try:
        busy.goto(f"{server}/interactions?seed=777&samples=6&ctx=2", wait_until="domcontentloaded")  # uncached
        watcher.goto(server, wait_until="domcontentloaded")
        watcher.wait_for_function("() => document.body.innerText.includes('computations running 1/1')")
        wait_until_idle(busy, 4)
        # The watcher's page stands still; its status line catches up on its own.
        watcher.wait_for_function("() => document.body.innerText.includes('computations running 0/1')",
                                  timeout=15_000)
        assert problems(watcher) == [] and problems(busy) == []
    finally:
        busy.close()
        watcher.close()


# Every text of a chart (title and subtitle lines, panel titles, axis titles, legend entries, tick labels) as the four
# corners of its box on the screen (rotated tick labels rotate their box); select boxes whose value is cut; tables
# that scroll sideways.
CHART_TEXTS = """() => {
  const corners = e => { const b = e.getBBox(), m = e.getScreenCTM();
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]]
      .map(([x, y]) => { const p = new DOMPoint(x, y).matrixTransform(m); return [p.x, p.y]; }); };
  const found = [];
  document.querySelectorAll('.js-plotly-plot').forEach((plot, k) => {
    const svg = plot.querySelector('.main-svg');
    if (!svg) return;
    const frame = svg.getBoundingClientRect();
    const texts = [...plot.querySelectorAll('text.gtitle, text.annotation-text, text.legendtext, ' +
                                            'text[class$="title"], g.xtick > text, g.ytick > text')]
      .filter(e => e.textContent.trim() && getComputedStyle(e).display !== 'none' && e.getBBox().width > 0)
      .map(e => ({text: e.textContent.trim().slice(0, 50), tick: !!e.closest('g.xtick, g.ytick'),
                  corners: corners(e)}));
    const panels = [...plot.querySelectorAll('g.hm image')].map(i => i.getBoundingClientRect().width);
    found.push({chart: k, frame: {left: frame.left, right: frame.right}, texts, panels});
  });
  const metrics = [...document.querySelectorAll('[data-testid="stMetricValue"] div')]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent);
  const selects = [...document.querySelectorAll('[data-testid="stSelectbox"] input')]
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1).map(e => e.value);
  const tables = [...document.querySelectorAll('[data-testid="stDataFrame"]')]
    .filter(t => t.offsetParent !== null)
    .map(t => [t.querySelector('.dvn-scroller'), t.getAttribute('data-testid')])
    .filter(([s]) => s && s.scrollWidth > s.clientWidth + 1).map(([s]) => s.scrollWidth - s.clientWidth);
  return {charts: found, cut_metrics: metrics, cut_selects: selects, wide_tables: tables};
}"""


#: px: an image or map panel narrower than this shows its cells as specks (the /attack images were 55 px wide
#: beside empty space at 1000 px; the four maps a row of /pairs are 82).
SMALLEST_PANEL = 75


def _overlap(a: list, b: list, slack: float = 2.0) -> bool:
    """Whether two convex quadrilaterals (corner lists) overlap by more than ``slack`` px along every separating
    axis (the edge normals of both)."""
    for quad in (a, b):
        for k in range(4):
            (x1, y1), (x2, y2) = quad[k], quad[(k + 1) % 4]
            nx, ny = y1 - y2, x2 - x1
            length = (nx * nx + ny * ny) ** 0.5
            if length == 0:
                continue
            pa = [(x * nx + y * ny) / length for x, y in a]
            pb = [(x * nx + y * ny) / length for x, y in b]
            if min(max(pa), max(pb)) - max(min(pa), min(pb)) <= slack:
                return False
    return True


def layout_faults(page) -> list[str]:
    """Chart texts (tick labels included) that overlap each other or run out of their chart, image and map panels
    too small to read, metric values and select boxes cut short, and tables wider than the page (their right
    columns out of view)."""
    seen = page.evaluate(CHART_TEXTS)
    faults = [f"metric value cut: {text!r}" for text in seen["cut_metrics"]]
    faults += [f"select box cut: {text!r}" for text in seen["cut_selects"]]
    faults += [f"a table scrolls sideways by {int(extra)} px" for extra in seen["wide_tables"]]
    for chart in seen["charts"]:
        texts, frame = chart["texts"], chart["frame"]
        faults += [f"chart {chart['chart']}: an image or map panel only {int(w)} px wide" for w in chart["panels"]
                   if w < SMALLEST_PANEL]
        for t in texts:
            xs = [x for x, _ in t["corners"]]
            if min(xs) < frame["left"] - 1 or max(xs) > frame["right"] + 1:
                faults.append(f"chart {chart['chart']}: {t['text']!r} runs out of the chart")
        for a, t in enumerate(texts):
            for u in texts[a + 1:]:
                if _overlap(t["corners"], u["corners"]):
                    faults.append(f"chart {chart['chart']}: {t['text']!r} overlaps {u['text']!r}")
    return faults


#: The layout test's pages: every page with charts at its defaults, and /attack's other protocol (its own form).
LAYOUT_PATHS = {**{name: PATHS[name] for name, charts in CHARTS.items() if charts},
                "attack at equal ε": "attack?protocol=eps"}


@pytest.mark.parametrize("width", [1000, 1400])
def test_chart_texts_neither_overlap_nor_run_out_at_teaching_widths(server, browser, width):
    """At 1000 and 1400 px, on every page with charts at its defaults (and /attack at equal ε): no chart text
    (titles, panel titles, axis titles, legend entries, tick labels) overlaps another or leaves its chart, no metric
    value or select box is cut short, no image or map panel is a speck, and no table needs scrolling sideways."""
    page = new_page(browser, width, 1800)
    try:
        faults = {}
        for name, path in LAYOUT_PATHS.items():
            page.goto(f"{server}/{path}", wait_until="domcontentloaded")
            wait_until_idle(page, CHARTS[name.split()[0]])
            found = layout_faults(page)
            if found:
                faults[name] = found
        assert faults == {}
    finally:
        page.close()


def test_no_page_asks_another_host(server, browser):
    """Offline, nothing fails to load: the favicon is drawn in the browser (an emoji, not a material icon that the
    front end fetches from a font host) and no request leaves the server."""
    page = new_page(browser, 1000, 1000)
    elsewhere = []
    page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith((server, "data:", "blob:")) else None)
    try:
        page.goto(f"{server}/attack", wait_until="domcontentloaded")
        wait_until_idle(page, CHARTS["attack"])
        icons = page.evaluate("() => [...document.querySelectorAll(\"link[rel*='icon']\")].map(l => l.href)")
        assert icons and all(icon.startswith(("data:", server)) for icon in icons)
        assert elsewhere == []
    finally:
        page.close()
