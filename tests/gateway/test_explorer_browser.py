"""The schema explorer in a real browser, offline: Debian's Chromium, headless, driven by
Playwright, against a gateway served by ``fame-gateway serve`` on 127.0.0.1.

Every request the page makes to anything but the loopback address is aborted and
recorded, and the test fails if there was one: the explorer must work with no
network at all. Skipped, saying what to install, without Chromium or Playwright;
with ``FAME_TEST_REQUIRE_BROWSER=1`` (as CI sets it) that is a failure instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fame_demo.synthetic import Population
from gateway.edge.explorer_assets import FETCH_COMMAND, assets_directory, load_manifest, missing
from tests.support import (
    Process,
    assert_png,
    browser_missing,
    fail_or_skip,
    offline_page,
    practitioner_token,
    prepare_shared_state,
    screenshot_path,
)

TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1440, "height": 900}


def _needed() -> Any:
    """Playwright's async API, or a skip (a failure under FAME_TEST_REQUIRE_BROWSER=1) naming
    what is missing and how to get it."""
    async_playwright, problems = browser_missing()
    absent = missing(load_manifest(), assets_directory())
    if absent:
        problems.append(f"the explorer's files ({FETCH_COMMAND})")
    if problems:
        fail_or_skip("the browser test needs " + " and ".join(problems))
    return async_playwright


async def test_the_explorer_answers_a_query_in_chromium_with_no_network(
    tmp_path: Path,
    population: Population,
    store_dir: Path,
    trust_url: str,
) -> None:
    async_playwright = _needed()
    from playwright.async_api import expect

    settings = await prepare_shared_state(
        tmp_path,
        population,
        store_dir,
        trust_url,
        f"sqlite+aiosqlite:///{(tmp_path / 'state.sqlite').as_posix()}",
    )
    pasted = practitioner_token(settings, "dr-okafor")
    gateway = Process(settings.config_dir / "gateway.toml", tmp_path / "gateway.log")
    try:
        await gateway.ready()
        async with (
            async_playwright() as playwright,
            offline_page(playwright, TIMEOUT_MS, viewport=VIEWPORT) as page,
        ):
            response = await page.goto(f"{gateway.url}/graphql")
            assert response is not None and response.status == 200
            status = page.locator("#fame-token-status")
            await expect(status).to_contain_text("No token yet", timeout=TIMEOUT_MS)

            # A pasted token is used, then forgotten.
            await page.get_by_label("Bearer token").fill(pasted)
            await page.get_by_role("button", name="Use token").click()
            await expect(status).to_contain_text("Dr Ada Okafor", timeout=TIMEOUT_MS)
            stored = await page.evaluate("sessionStorage.getItem('fame-token')")
            assert stored == pasted
            await page.get_by_role("button", name="Forget token").click()
            await expect(status).to_contain_text("No token yet", timeout=TIMEOUT_MS)
            assert await page.evaluate("sessionStorage.getItem('fame-token')") is None

            # One click on a sample practitioner mints a demo token and loads the schema.
            await page.get_by_role("button", name="Priya Patel").click()
            await expect(status).to_contain_text("Priya Patel", timeout=TIMEOUT_MS)
            await _run_and_see(page, expect, '"name": "Priya Patel"')
            # A header typed into GraphiQL's Headers tab is sent: a purpose a social
            # worker may not claim is refused, by name.
            headers = page.locator(".graphiql-editor-tool .CodeMirror").last
            await headers.click()
            await page.keyboard.insert_text('{"Fame-Purpose-Of-Use": "audit"}')
            await _run_and_see(page, expect, "PURPOSE_FORBIDDEN")
            await headers.click()
            await page.keyboard.press("Control+A")
            await page.keyboard.press("Delete")
            await _run_and_see(page, expect, '"purpose": "direct_care"')
            await _open_docs(page, expect)
            screenshot = screenshot_path("explorer.png", tmp_path)
            await page.screenshot(path=str(screenshot))
            assert_png(screenshot)
    finally:
        gateway.stop()


async def _run_and_see(page: Any, expect: Callable[..., Any], text: str) -> None:
    """Run the query in the editor (the default one asks for ``me``) and wait for ``text``
    in the result pane."""
    await page.locator(".graphiql-execute-button").click()
    await expect(page.locator(".graphiql-response")).to_contain_text(text, timeout=TIMEOUT_MS)


async def _open_docs(page: Any, expect: Callable[..., Any]) -> None:
    """Open the documentation explorer: it lists the root types only once introspection
    has loaded the schema."""
    await page.get_by_role("button", name="Show Documentation Explorer").click()
    await expect(page.locator(".graphiql-doc-explorer")).to_contain_text(
        "Query", timeout=TIMEOUT_MS
    )
