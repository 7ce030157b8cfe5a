"""The static site: it builds with warnings as errors, and pages look right in a real
browser.

The build reuses the chapters' outputs that nbval stored in the book's execution cache
(see the repository's conftest.py), so run the notebooks first: ``pytest --nbval-lax nbs
tests``.
"""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
# generated from the claims the chapters recorded
RESULTS_PAGE = ROOT / "book" / "results.md"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
# The run's claims folder, read at import: the unit tests' fixture (tests/conftest.py)
# unsets the variable.
CLAIMS = os.environ.get("TUTORIALKIT_CLAIMS", str(ROOT / "_build" / "claims"))
PAGE_SOURCES: dict[str, list[str]] = {}  # filled by the site fixture
CHAPTERS = [
    c["file"]
    for part in TOC["parts"]
    for c in part["chapters"]
    if c["file"].startswith("nbs/")
]


@pytest.fixture(scope="module")
def site():
    """Build the book once for this module; fail with the build's own log on any
    warning."""
    env = dict(
        os.environ, TUTORIALKIT_PROFILE="quick", HF_HUB_OFFLINE="1", TQDM_DISABLE="1"
    )
    page = [
        sys.executable,
        str(ROOT / ".ci" / "results_page.py"),
        str(RESULTS_PAGE),
        CLAIMS,
        str(ROOT / "results" / "claims"),
    ]
    subprocess.run(page, cwd=ROOT, check=True, capture_output=True)
    # The chapters the page was written from; the build may re-run a chapter (and
    # rewrite its claims).
    PAGE_SOURCES["quick"] = sorted(
        path.stem
        for path in (Path(CLAIMS) / "quick").glob("*.json")
        if json.loads(path.read_text())
    )
    command = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(ROOT),
        "--all",
        "--warningiserror",
        "--keep-going",
    ]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600
    )
    assert done.returncode == 0, (
        f"book build failed:\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    )
    PAGE_SOURCES["executed by the build"] = [
        line for line in done.stdout.splitlines() if "Executing" in line
    ]
    return HTML


def test_site_has_every_page(site):
    for page in [
        TOC["root"],
        *(c["file"] for part in TOC["parts"] for c in part["chapters"]),
    ]:
        assert (site / f"{page}.html").exists(), page
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists(), (
        "MathJax must be served locally"
    )


def test_api_reference_lists_the_package_functions(site):
    html = (site / "book" / "api.html").read_text()
    for name in (
        "seed_everything",
        "resolve_profile",
        "packaged_path",
        "load_model",
        "concept_map",
        "show",
    ):
        assert 'id="tutorialkit.' in html and name in html, name


def test_results_page_lists_the_claims_of_every_chapter(site):
    """The claims recorded by this run's notebooks (the quick profile, and the rehearsal
    when it ran)."""
    html = (site / "book" / "results.html").read_text()
    assert "Every claim" in html and '<th class="head"><p>quick</p></th>' in html, (
        "no claims table with a quick column"
    )
    source = RESULTS_PAGE.read_text()
    executed = PAGE_SOURCES["executed by the build"]
    for stem in PAGE_SOURCES["quick"]:
        assert f"(../nbs/{stem}.md)" in source, (
            f"{stem} recorded quick claims that {RESULTS_PAGE.name} does not list"
        )
        assert (
            f'<h3><a class="reference internal" href="../nbs/{stem}.html">' in html
        ), "\n".join(
            [
                f"{stem}: its section of {RESULTS_PAGE.name} is not in the HTML;",
                "chapters the build executed (not found in the cache):",
                *executed,
            ]
        )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_has_executed_outputs(site, chapter):
    html = (site / f"{chapter}.html").read_text()
    assert html.count('class="cell_output') >= 3, (
        "the chapter was rendered without its outputs"
    )
    assert "[quick: " in html, "the profile banner is missing from the rendered chapter"
    # a cell ending in a bare boolean shows a lone "True": noise for the reader
    lone = re.findall(
        r'output text_plain[^>]*><div class="highlight"><pre><span></span>'
        r"(True|False)\n</pre>",
        html,
    )
    assert not lone, f"{len(lone)} outputs that are a lone True or False"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(site):
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail(
                "chromium and chromedriver are required in CI (apt-get install "
                "chromium chromium-driver)"
            )
        pytest.skip("chromium/chromedriver not installed (the test runs in CI)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,2000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield driver
    driver.quit()
    server.shutdown()


def _open(driver, page):
    """Load a page and wait until MathJax has typeset it (it runs asynchronously after
    load)."""
    driver.get(f"{driver.base}/{page}")
    driver.set_script_timeout(30)
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (window.MathJax && MathJax.startup) "
        "{ MathJax.startup.promise.then(() => done(true)); }"
        "else { done(false); }"
    )


def _screenshot(driver, name):
    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(shots / f"{name}.png"))


def _math_rendered(driver):
    """Number of formulas MathJax typeset, and the number of TeX sources it left
    untouched."""
    return driver.execute_script(
        "return [document.querySelectorAll('mjx-container').length,"
        " document.querySelectorAll('.math:not(:has(mjx-container))').length]"
    )


def _broken_images(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('main img'))"
        ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )


def test_intro_page_in_a_browser(browser):
    _open(browser, "book/intro.html")
    _screenshot(browser, "intro")
    assert "Fine-tuning language models" in browser.title
    assert _broken_images(browser) == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_in_a_browser(browser, chapter):
    """Maths typeset, figures loaded, and the Colab button opens this chapter's
    notebook."""
    _open(browser, f"{chapter}.html")
    _screenshot(browser, chapter.split("/")[-1])
    typeset, untouched = _math_rendered(browser)
    assert untouched == 0, f"{untouched} formulas left as raw TeX ({typeset} typeset)"
    # numbered chapters have figures; an appendix may have none
    if chapter.split("/")[-1][:2].isdigit():
        images = browser.execute_script(
            "return document.querySelectorAll('main img').length"
        )
        assert images >= 1, f"expected the chapter's figures, found {images} images"
    assert _broken_images(browser) == []
    colab = browser.execute_script(
        "return Array.from(document.querySelectorAll('a')).map(a => a.href).filter(h "
        "=> h.includes('colab.research.google.com'))"
    )
    assert colab, "no Colab launch link on the chapter page"
    assert all(link.endswith(f"/{chapter}.ipynb") for link in colab), colab


def test_chapter_one_has_maths_and_its_diagrams(browser):
    _open(browser, "nbs/01_concepts.html")
    typeset, _ = _math_rendered(browser)
    images = browser.execute_script(
        "return document.querySelectorAll('main img').length"
    )
    assert typeset >= 20 and images >= 5, (typeset, images)
