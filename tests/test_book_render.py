"""Headless-browser checks of the built book (``make html`` first; ``make check-html`` runs these).

Every page the table of contents produces is opened from ``_build/html`` in Debian's Chromium,
driven by Python playwright (no ``playwright install``; see TOOLCHAIN.md), with every request
that is not ``file://`` aborted, so the book must work offline. For each page we assert:

* a non-empty main article;
* no error output (``div.output.traceback`` / ``div.output.error``) and no stderr output
  (myst-nb renders it as ``div.output.stderr``) holding "Traceback" or "Error";
* every ``<img>`` loaded (``complete && naturalWidth > 0``) and no local file failed to load;
* all math typeset by the vendored MathJax (no raw TeX, no MathJax error), and the
  introduction has at least one ``mjx-container``;
* a chapter built from a notebook shows at least one image and states its scale ("Scale: …").

The page list comes from ``_toc.yml``, so it grows with the book. The console is *not*
asserted empty (blocked CDN/theme requests always log errors there).

Without Chromium (or playwright) the tests skip, unless ``CSR_REQUIRE_BROWSER=1`` (set by
``.ci/run``), in which case they fail. A missing ``_build/html`` always fails: run ``make html``.
"""
from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM = os.environ.get("CSR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000
ARTICLE = "main article, article[role='main'], div[role='main']"
# Pages Sphinx writes besides the toc's: the redirect and the generated index/search pages.
GENERATED = {"index.html", "genindex.html", "search.html", "py-modindex.html"}


# ------------------------------------------------------------------------------------------
# pages from the table of contents
# ------------------------------------------------------------------------------------------
def _toc_files(node: Any) -> Iterator[str]:
    """Every ``file:``/``root:`` entry of a jb-book/jb-article toc, depth first."""
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                yield node[key]
        for value in node.values():
            if isinstance(value, (list, dict)):
                yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def toc_pages() -> list[str]:
    """Docnames (root-relative, no extension) of every page in ``_toc.yml``, root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages: list[str] = []
    for f in _toc_files(toc):
        name = re.sub(r"\.(md|ipynb|rst)$", "", f.strip().lstrip("./"))
        if name not in pages:
            pages.append(name)
    return pages


def root_page() -> str:
    return yaml.safe_load((ROOT / "_toc.yml").read_text())["root"]


def is_notebook(page: str) -> bool:
    return (ROOT / f"{page}.ipynb").is_file()


PAGES = toc_pages()
CHAPTERS = [p for p in PAGES if is_notebook(p)]


# ------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------
def _no_browser(reason: str) -> None:
    if os.environ.get("CSR_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, but CSR_REQUIRE_BROWSER=1 requires the browser check", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def html_dir() -> Path:
    if not (HTML / "index.html").is_file():
        pytest.fail(
            f"{HTML.relative_to(ROOT)}/index.html not found: build the book first with `make html` "
            "(the browser tests check the built HTML, they do not build it)",
            pytrace=False,
        )
    return HTML


@pytest.fixture(scope="session")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    exe = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    if not exe or not os.access(exe, os.X_OK):
        _no_browser(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:  # pragma: no cover - depends on the environment
        _no_browser(f"playwright is not importable ({e}); pip install -r requirements-test.txt")
    request.getfixturevalue("html_dir")  # no point starting a browser without a built book
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Loaded:
    """A page opened offline, with what happened while loading it."""

    def __init__(self, page: Any, blocked: list[str], failed: list[str]):
        self.page, self.blocked, self.failed = page, blocked, failed


@contextmanager
def _open(browser: Any, url: str) -> Iterator[Loaded]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    blocked: list[str] = []
    failed: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on(
        "requestfailed",
        lambda req: failed.append(f"{req.url} ({req.failure})") if req.url.startswith("file://") else None,
    )
    try:
        page.goto(url, wait_until="load")
        yield Loaded(page, blocked, failed)
    finally:
        context.close()


@pytest.fixture(scope="module", params=PAGES)
def loaded(request: pytest.FixtureRequest, browser: Any, html_dir: Path) -> Iterator[Loaded]:
    path = html_dir / f"{request.param}.html"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} missing: {request.param} is in _toc.yml but was not built")
    with _open(browser, path.as_uri()) as lp:
        _wait_for_math(lp.page)
        _wait_for_images(lp.page)
        yield lp


def _wait_for_math(page: Any) -> None:
    """If the page holds math, wait until MathJax has finished typesetting it."""
    if page.locator(".math").count() == 0:
        return
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise.then(() => true)")


def _wait_for_images(page: Any) -> None:
    page.evaluate(
        """async () => {
            const imgs = Array.from(document.images);
            imgs.forEach(i => { if (i.loading === 'lazy') i.loading = 'eager'; });
            await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
                i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 10000);
            })));
        }"""
    )


# ------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------
def test_toc_pages_built_and_nothing_stale(html_dir: Path) -> None:
    """Every toc page was built, and no page outside the toc lingers in _build/html."""
    missing = [p for p in PAGES if not (html_dir / f"{p}.html").is_file()]
    assert not missing, f"pages in _toc.yml but not in {html_dir}: {missing} (run `make html`)"
    built = {
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if not p.relative_to(html_dir).parts[0].startswith("_")
    }
    stale = sorted(built - GENERATED - {f"{p}.html" for p in PAGES})
    assert not stale, f"HTML pages not in _toc.yml (stale build? `make html` cleans _build): {stale}"


def test_index_redirects_to_root(browser: Any, html_dir: Path) -> None:
    target = f"{root_page()}.html"
    text = (html_dir / "index.html").read_text()
    assert re.search(r'http-equiv="refresh"[^>]*url=' + re.escape(target), text, re.I), (
        f"index.html is not a redirect to {target}:\n{text[:500]}"
    )
    with _open(browser, (html_dir / "index.html").as_uri()) as lp:
        lp.page.wait_for_url(re.compile(re.escape(target) + r"$"), wait_until="domcontentloaded")
        assert lp.page.locator(ARTICLE).first.inner_text().strip(), f"{target} has no article"


def test_article_not_empty(loaded: Loaded) -> None:
    article = loaded.page.locator(ARTICLE)
    assert article.count() > 0, f"no main article on {loaded.page.url}"
    assert article.first.inner_text().strip(), f"empty main article on {loaded.page.url}"


def test_no_error_outputs(loaded: Loaded) -> None:
    page = loaded.page
    errors = page.locator("div.output.traceback, div.output.error")
    assert errors.count() == 0, (
        f"{errors.count()} error output(s) on {page.url}:\n{errors.first.inner_text()[:2000]}"
    )
    bad = [
        t for t in page.locator("div.output.stderr").all_inner_texts()
        if "Traceback" in t or "Error" in t
    ]
    assert not bad, f"stderr output with an error on {page.url}:\n{bad[0][:2000]}"


def test_images_loaded(loaded: Loaded) -> None:
    broken = loaded.page.evaluate(
        "() => Array.from(document.images)"
        ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'))"
    )
    assert not broken, f"images not loaded on {loaded.page.url}: {broken}"


def test_no_local_file_failed(loaded: Loaded) -> None:
    """Every file:// resource (CSS, JS, fonts, MathJax components, images) exists."""
    assert not loaded.failed, f"local resources failed to load on {loaded.page.url}: {loaded.failed}"


def test_math_rendered(loaded: Loaded, request: pytest.FixtureRequest) -> None:
    page = loaded.page
    n_math = page.locator(".math").count()
    if request.node.callspec.params["loaded"] == root_page():
        assert n_math > 0, "the introduction is expected to contain math"
        assert page.locator("mjx-container").count() > 0, "MathJax rendered no math on the introduction"
    if n_math == 0:
        return
    raw = page.evaluate(
        "() => Array.from(document.querySelectorAll('.math'))"
        ".filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80))"
    )
    assert not raw, f"{len(raw)} math element(s) left untypeset (MathJax missing?) on {page.url}: {raw[:3]}"
    errors = page.locator("mjx-merror").all_text_contents()
    assert not errors, f"MathJax errors on {page.url}: {errors[:5]}"


@pytest.fixture(scope="module", params=CHAPTERS or ["<none>"])
def chapter(request: pytest.FixtureRequest, browser: Any, html_dir: Path) -> Iterator[Loaded]:
    """A chapter page built from an executed notebook."""
    if request.param == "<none>":
        pytest.fail("_toc.yml lists no chapter built from a notebook (book/chapters/*.ipynb)")
    with _open(browser, (html_dir / f"{request.param}.html").as_uri()) as lp:
        _wait_for_images(lp.page)
        yield lp


def test_notebook_chapter_has_image(chapter: Loaded) -> None:
    n = chapter.page.locator(f"{ARTICLE} img").count()
    assert n > 0, f"notebook chapter {chapter.page.url} shows no image (were its outputs stored?)"


def test_chapter_states_scale(chapter: Loaded) -> None:
    """Each executed chapter states the scale of its outputs in a line starting "Scale:"."""
    text = chapter.page.locator(ARTICLE).first.inner_text()
    assert re.search(r"(?m)^\s*Scale:", text), f"{chapter.page.url}: no line starting with 'Scale:'"
