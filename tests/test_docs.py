"""The documentation site: built strictly by mkdocs, then read in a real headless browser.

The browser is Debian's Chromium (`apt-get install chromium`; .ci/run installs it), driven by
Playwright from the package index: Playwright's own browser download cannot be used here.
Without /usr/bin/chromium the browser test skips and says so. Its screenshots are saved in
build/screenshots/ (git ignores build/).
"""

import functools
import http.server
import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest
import yaml
from conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "build" / "screenshots"


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    command = ["mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)]
    # Without the notice mkdocs-material prints on every build (its end of life: mkdocs.yml).
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(command, capture_output=True, text=True, check=False, env=environment)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    result = build(REPO / "mkdocs.yml", folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr, "the site builds with no warning"
    return folder


def test_every_page_of_docs_is_in_the_navigation_and_built(site):
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    pages = {page for entry in nav for page in entry.values()}
    assert pages == {path.name for path in (REPO / "docs").glob("*.md")}
    for page in pages:
        built = site / ("index.html" if page == "index.md" else f"{page.removesuffix('.md')}/index.html")
        assert built.is_file(), built
    assert (site / "search/search_index.json").is_file()


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("[a page that is not there](nowhere.md)", "'nowhere.md', but the target is not found"),
        ("[an anchor that is not there](results.md#nowhere)", "'results.md#nowhere'"),
    ],
)
def test_a_broken_link_fails_the_strict_build(tmp_path, mistake, message):
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with (tmp_path / "docs/index.md").open("a") as page:
        page.write(f"\n{mistake}\n")
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 1
    assert message in result.stdout + result.stderr


@pytest.fixture(scope="module")
def served(site):
    """The built site on loopback, as a reader's browser gets it."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="no /usr/bin/chromium: `apt-get install chromium` (.ci/run does)"
)
def test_the_site_reads_in_a_browser_offline_with_working_links_and_search(served):
    from playwright.sync_api import sync_playwright

    host, problems = urlparse(served).netloc, []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: console: {m.text}"))
        page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))

        def offline(route):
            # The site must work with no network: anything not on loopback is refused, and named.
            if urlparse(route.request.url).netloc == host:
                route.continue_()
            else:
                problems.append(f"{page.url}: a request outside the site: {route.request.url}")
                route.abort()

        page.route("**/*", offline)
        todo, seen, anchors, links = [served], set(), {}, {}
        while todo:
            url = todo.pop()
            if url in seen:
                continue
            seen.add(url)
            response = page.goto(url, wait_until="networkidle")
            if response is None or response.status != 200:
                problems.append(f"{url}: HTTP {response and response.status}")
                continue
            anchors[url] = set(page.eval_on_selector_all("[id]", "elements => elements.map(e => e.id)"))
            for href in page.eval_on_selector_all("a[href]", "elements => elements.map(a => a.href)"):
                if urlparse(href).netloc == host:
                    links.setdefault(href, url)
                    target = urldefrag(href)[0]
                    if target.endswith("/"):
                        todo.append(target)
        for href, source in sorted(links.items()):
            target, fragment = urldefrag(href)
            code = status(target)
            if code != 200:
                problems.append(f"{source}: a link to {href} answers HTTP {code}")
            elif fragment and target in anchors and fragment not in anchors[target]:
                problems.append(f"{source}: a link to {href}, an anchor the page does not have")

        page.goto(served, wait_until="networkidle")
        page.click("input.md-search__input")
        page.locator("input.md-search__input").press_sequentially("reproduce", delay=30)
        hits = page.locator(".md-search-result__item")
        hits.first.wait_for(state="visible", timeout=10_000)
        found = hits.count()
        page.keyboard.press("Escape")

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name, path in (("home", ""), ("tutorial", "tutorial/")):
            page.goto(served + path, wait_until="networkidle")
            page.screenshot(path=SCREENSHOTS / f"{name}.png")
        browser.close()

    assert not problems, "\n".join(problems)
    assert len(seen) == len(list((REPO / "docs").glob("*.md"))), sorted(seen)
    assert found > 0, "a search for 'reproduce' found nothing"
    for name in ("home", "tutorial"):
        assert (SCREENSHOTS / f"{name}.png").read_bytes().startswith(b"\x89PNG")
