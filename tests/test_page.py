"""The leaderboard page in a real browser (headless Chromium through selenium): it loads from
disk and from a static server on 127.0.0.1 with no console errors, its tables hold the rows the
analysis holds, a header click sorts, the filter hides other data sets, every image loads.

The browser is Debian's ``chromium`` and ``chromium-driver`` (.ci/run installs them). Where they
are missing the test skips with the reason on a developer's machine and fails in CI (CI=true), so
a CI without a browser can never pass silently. ``MEDATTN_PAGE_SCREENSHOT=path`` saves a
screenshot of the committed page (``make page-screenshot``)."""

from __future__ import annotations

import functools
import http.server
import json
import re
import os
import shutil
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medattn_bench import cli
from medattn_bench.analysis import analyse
from medattn_bench.export import comparison_rows, run_rows
from medattn_bench.records import load_records, load_suite_infos

pytestmark = pytest.mark.slow  # a trained suite each (and a browser): make test-slow, run by CI

ROOT = Path(__file__).resolve().parents[1]


def _browser():
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    why = None
    try:
        from selenium import webdriver  # noqa: F401
    except ImportError:
        why = "selenium is not installed (pip install -e '.[dev]')"
    if why is None and not (chrome and driver):
        why = "no headless Chromium and chromedriver (apt-get install chromium chromium-driver)"
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the page test needs a browser in CI: {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1300,1800", "--allow-file-access-from-files"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=opts)


@pytest.fixture(scope="module")
def browser():
    b = _browser()
    yield b
    b.quit()


@pytest.fixture(scope="module")
def page(tiny_board, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("page")
    tiny_board.copy(tmp / "board")
    result = CliRunner().invoke(cli.app, ["leaderboard", str(tmp / "board" / "records"), "--out",
                                          str(tmp / "board" / "README.md"), "--html", str(tmp / "board" / "index.html")])
    assert result.exit_code == 0, result.output
    return tmp / "board" / "index.html"


def _errors(browser) -> list[dict]:
    return [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]


def _images_loaded(browser) -> list[str]:
    """src of every image that did not load (naturalWidth 0)."""
    return browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);")


def test_page_loads_and_its_tables_hold_the_analysis(browser, page):
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    assert _errors(browser) == []
    assert _images_loaded(browser) == [] and browser.find_elements(By.TAG_NAME, "img")
    recs, _ = load_records(page.parent / "records")
    infos, _ = load_suite_infos(page.parent / "records")
    analyses = analyse(recs, infos)
    runs, comps = run_rows(analyses), comparison_rows(analyses)
    for ds in ("phantom_ct", "phantom_mri"):
        table = browser.find_element(By.CSS_SELECTOR, f'table.runs[data-dataset="{ds}"]')
        assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == sum(r["dataset"] == ds for r in runs) == 9
        table = browser.find_element(By.CSS_SELECTOR, f'table.comparisons[data-dataset="{ds}"]')
        assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == sum(c["dataset"] == ds for c in comps) == 2
        table = browser.find_element(By.CSS_SELECTOR, f'table.variants[data-dataset="{ds}"]')
        assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 3
    findings = browser.find_element(By.CSS_SELECTOR, "table.findings")
    assert len(findings.find_elements(By.CSS_SELECTOR, "tbody tr")) == 2  # se, gc on phantom_ct
    # every record is reachable from its row
    links = browser.find_elements(By.CSS_SELECTOR, "table.runs a")
    assert len(links) == 18
    href = links[0].get_attribute("href")
    assert href.startswith("file://") and Path(href[len("file://"):]).is_file()
    assert json.loads(Path(href[len("file://"):]).read_text())["suite"] == "tinyboard"


def test_header_click_sorts_and_filter_hides_other_datasets(browser, page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(page.as_uri())
    table = browser.find_element(By.CSS_SELECTOR, 'table.variants[data-dataset="phantom_ct"]')
    header = next(th for th in table.find_elements(By.TAG_NAME, "th") if th.text.startswith("Mean AUC"))

    def column() -> list[float]:
        return [float(tr.find_elements(By.TAG_NAME, "td")[1].text) for tr in table.find_elements(By.CSS_SELECTOR,
                                                                                                   "tbody tr")]

    header.click()
    assert column() == sorted(column()) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert column() == sorted(column(), reverse=True) and header.get_attribute("aria-sort") == "descending"
    Select(browser.find_element(By.ID, "f-dataset")).select_by_value("phantom_ct")
    assert not browser.find_element(By.CSS_SELECTOR, 'div[data-dataset="phantom_mri"]').is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, 'div[data-dataset="phantom_ct"]').is_displayed()
    Select(browser.find_element(By.ID, "f-dataset")).select_by_value("")
    assert browser.find_element(By.CSS_SELECTOR, 'div[data-dataset="phantom_mri"]').is_displayed()
    assert _errors(browser) == []


def test_page_served_as_a_static_site(browser, page):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(page.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        assert _errors(browser) == [] and _images_loaded(browser) == []
        from selenium.webdriver.common.by import By

        assert browser.find_elements(By.CSS_SELECTOR, "table.findings")
    finally:
        server.shutdown()
        server.server_close()


def test_committed_page_loads_without_errors(browser, tmp_path):
    page = ROOT / "leaderboard" / "index.html"
    assert page.is_file(), "leaderboard/index.html must be committed (make leaderboard)"
    browser.get(page.as_uri())
    assert _errors(browser) == [] and _images_loaded(browser) == []
    shot = os.environ.get("MEDATTN_PAGE_SCREENSHOT")
    if shot:
        browser.save_screenshot(shot)


def _layout_report(browser, width: int) -> dict:
    """At a viewport ``width`` (a phone at 390 px): the body's horizontal overflow, tables outside a
    scrolling container, and the section and sub-section headings shown."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    browser.refresh()
    return browser.execute_script(
        "return {overflow: document.documentElement.scrollWidth - window.innerWidth,"
        " bare: Array.from(document.querySelectorAll('table')).filter(t => !t.parentElement.classList.contains('scroll')).length,"
        " wide_images: Array.from(document.querySelectorAll('img')).filter(i => i.getBoundingClientRect().width > window.innerWidth).length,"
        " headings: Array.from(document.querySelectorAll('h2, h4')).map(h => h.textContent.trim()),"
        " header: document.querySelector('p.note').innerHTML};")


def _markdown_sections(markdown: str) -> tuple[set, set]:
    h2 = {re.sub(r"[`]", "", line[3:]).strip() for line in markdown.splitlines() if line.startswith("## ")}
    h3 = {line[4:].replace("`", "").strip() for line in markdown.splitlines() if line.startswith("### ")}
    return h2, h3


def _check_layout(browser, page: Path, markdown: str) -> None:
    browser.get(page.as_uri())
    h2, h3 = _markdown_sections(markdown)
    for width in (1300, 390):
        rep = _layout_report(browser, width)
        assert rep["overflow"] <= 0, (width, rep["overflow"])
        assert rep["bare"] == 0 and rep["wide_images"] == 0, (width, rep)
        assert "`" not in rep["header"] and "<code>" in rep["header"]
        shown = {re.sub(r"\s+", " ", h) for h in rep["headings"]}
        missing_h2 = {h for h in h2 if h.replace("Suite ", "Suite ") not in shown}
        assert not missing_h2, missing_h2
        # every markdown sub-section that is not a per-data-set table has its heading on the page
        kinds = {h for h in h3 if h in ("Cost", "Across data sets") or h.startswith("A/A check")
                 or h.startswith("The paper's claims") or h.startswith("Against suite")}
        assert kinds <= shown, kinds - shown
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.mark.slow
def test_page_has_the_markdowns_sections_and_fits_a_phone(browser, page):
    _check_layout(browser, page, (page.parent / "README.md").read_text())


@pytest.mark.slow
def test_committed_page_has_the_boards_sections_and_fits_a_phone(browser):
    _check_layout(browser, ROOT / "leaderboard" / "index.html", (ROOT / "leaderboard" / "README.md").read_text())
