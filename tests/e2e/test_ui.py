"""The Dagster UI in a real browser: the real webserver on 127.0.0.1 over a small deployment,
driven by headless Chromium (Debian's /usr/bin/chromium, through Playwright; no browser is
downloaded). Screenshots go to test-output/ui/.
"""

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from assets.keys import ModelKeys
from resources.settings import REPO_ROOT
from tools import daemon_loop

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "test-output" / "ui"
# Headless on a closed network: no sandbox as root, no background calls to Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


# The first visit to a page builds the asset graph in the webserver: allow for a slow machine.
expect.set_options(timeout=60_000)


@pytest.fixture(scope="module")
def deployment(built_platform, tmp_path_factory):
    """Six weeks ingested and one model evaluated."""
    platform = built_platform.clone(tmp_path_factory.mktemp("ui"))  # Jan 1 .. Feb 12 materialized
    assert platform.train("2013-02-03", holdout_days=7, models=[ModelKeys("not_on_time")]).success
    return platform


def serve(env: dict):
    server, url = daemon_loop.start_webserver(env, timeout=120)
    try:
        yield url
    finally:
        daemon_loop.stop_session(server)


@pytest.fixture(scope="module")
def webserver(deployment):
    yield from serve(deployment.environment(os.environ))


@pytest.fixture(scope="module")
def webserver_at_ten_years(deployment):
    """The same deployment given ten years of history (HISTORY_YEARS=10): 3,641 daily
    partitions, the six weeks of 2013 materialized among them."""
    yield from serve({**deployment.environment(os.environ), "HISTORY_YEARS": "10"})


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, base_url: str) -> Page:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(60_000)  # the first load of a page compiles the asset graph
    # A "Join the Dagster community" dialog may cover the page on first visit: skip it.
    page.add_locator_handler(page.get_by_text("Join the Dagster community"),
                             lambda: page.get_by_text("Skip", exact=True).click())
    page.base_url = base_url
    return page


@pytest.fixture
def page(browser, webserver, request) -> Page:
    page = open_page(browser, webserver)
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png")
    page.close()


def test_asset_graph_shows_every_group(page):
    page.goto(f"{page.base_url}/asset-groups")
    for group in ("raw", "staging", "labels", "features", "ml", "monitoring"):
        expect(page.get_by_text(group, exact=True).first).to_be_visible()


def test_partition_view_of_raw_schedule(page):
    page.goto(f"{page.base_url}/assets/raw/schedule?view=partitions")
    expect(page.get_by_text("365 Partitions Selected")).to_be_visible()
    materialized = page.get_by_text("Materialized (")
    expect(materialized).to_be_visible()
    count = int(materialized.inner_text().split("(")[1].rstrip(")"))
    assert count == 43  # Jan 1 .. Feb 12 in this instance


def test_partition_view_at_ten_years_of_history(browser, webserver_at_ten_years):
    page = open_page(browser, webserver_at_ten_years)
    page.goto(f"{page.base_url}/assets/features/flight_features?view=partitions")
    expect(page.get_by_text(re.compile(r"3,?641 Partitions Selected"))).to_be_visible()
    materialized = page.get_by_text("Materialized (")
    expect(materialized).to_be_visible()
    assert int(materialized.inner_text().split("(")[1].rstrip(")")) == 43
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "partition_view_at_ten_years_of_history.png")
    page.close()


def test_asset_check_results_on_raw_schedule(page):
    page.goto(f"{page.base_url}/assets/raw/schedule?view=checks")
    for check in ("key_unique", "null_rates_in_band", "row_count_in_band"):
        expect(page.get_by_text(check, exact=True).first).to_be_visible()
    expect(page.get_by_text("This is a blocking asset check.")).to_be_visible()
    expect(page.get_by_text("Not Evaluated")).to_have_count(0)
    expect(page.get_by_text("Passed", exact=True)).to_be_visible()  # key_unique, selected first


def test_model_evaluation_shows_its_roc_plot(page):
    page.goto(f"{page.base_url}/assets/ml/not_on_time/evaluation")
    row = page.locator("tr", has_text="roc").filter(has_text="[Show Markdown]").first
    row.get_by_text("[Show Markdown]").click()
    plot = page.locator("img[alt^='ROC']")
    expect(plot).to_be_visible()
    assert plot.get_attribute("alt") == "ROC, holdout of 2013-02-03"
    assert plot.evaluate("image => image.naturalWidth") > 200  # a decoded PNG, not a broken icon
