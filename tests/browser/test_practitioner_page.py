"""The practitioner's page in a real browser, offline: Debian's Chromium, headless, driven by
Playwright, against ``fame-gateway serve`` on 127.0.0.1 over the demo world, with the
community health trust's API not started (its registration points at a closed port), so
that one agency is unavailable.

A social worker signs in and finds a person with the keyboard alone, sees a withheld
item's reason in plain words and the unavailable agency, records the person's consent
and sees the item appear, then withdraws it, and claims safeguarding; a GP of another
practice breaks glass to see the record; a pasted token signs in. axe-core (pinned in
``package.json`` here, installed with ``npm ci``, injected from the local file) must find
no serious or critical violation at laptop and tablet sizes. Every request to anything but the
loopback address is aborted and recorded, and the test fails if there was one.
Screenshots go to ``docs/``. Skipped, saying what to install, without Chromium,
Playwright, or Node.js and npm; with ``FAME_TEST_REQUIRE_BROWSER=1`` (as CI sets it)
that is a failure instead.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

from fame_demo.practitioners import practitioner
from fame_demo.synthetic import Population, SyntheticPerson
from gateway.edge.plain_words import SOURCE_STATUSES, WITHHELD_REASONS
from tests.support import (
    Process,
    assert_png,
    browser_missing,
    fail_or_skip,
    free_port,
    offline_page,
    practitioner_token,
    prepare_shared_state,
    screenshot_path,
)

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
#: In node_modules: the sha256 of the lock file that ``npm ci`` last installed.
STAMP = ".fame-lock.sha256"
LAPTOP = {"width": 1366, "height": 768}
TABLET = {"width": 820, "height": 1180}
TIMEOUT_MS = 30_000
SOCIAL_WORKER = practitioner("sw-patel")
COMMUNITY_HEALTH = "shire-community-health"
#: A signed consent form's number, as the demo protocol's signed_form evidence matches.
CONSENT_EVIDENCE = "Signed consent form SF-2291"
#: A Care Act s.42 enquiry number, as the demo protocol's safeguarding reference matches.
ENQUIRY = "S42-2026-00123"
SAFEGUARDING_REASON = "Neighbour reports unexplained bruising and missed care visits this week."
OTHER_GP = practitioner("dr-lewis")
BREAK_GLASS_REASON = "Brought to the surgery confused after a fall; family not reachable now."


def _needed() -> Any:
    """Playwright's async API with Chromium and axe-core installed, or a skip (a failure
    under FAME_TEST_REQUIRE_BROWSER=1) naming what is missing and how to get it."""
    async_playwright, problems = browser_missing()
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        problems.append("Node.js and npm, to install axe-core (apt-get install -y nodejs npm)")
    if problems:
        fail_or_skip("the practitioner page's browser test needs " + " and ".join(problems))
    assert npm is not None
    _install_axe(npm)
    return async_playwright


def _install_axe(npm: str) -> None:
    """axe-core as the committed lock file pins it (``npm ci`` once per lock file)."""
    lock = hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()
    stamp = HERE / "node_modules" / STAMP
    if stamp.exists() and stamp.read_text().strip() == lock and AXE.exists():
        return
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 or not AXE.exists():
        tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        fail_or_skip(
            f"`npm ci` in tests/{HERE.name} to install axe-core (exit {done.returncode}): {tail}"
        )
    stamp.write_text(lock + "\n")


def _subject(population: Population) -> SyntheticPerson:
    """Someone the social worker's own team holds, who is known to the community trust and
    has diagnoses on their GP record, and whom the other GP's practice does not hold: the
    picture then has an unavailable agency and an item withheld for want of consent, and
    the other GP must break glass to see it."""
    for person in population.people:
        gp = population.gp_of(person.nhs_number)
        local = population.local_id(gp, person.nhs_number)
        if (
            SOCIAL_WORKER.team in population.holding_teams(SOCIAL_WORKER.agency, person.nhs_number)
            and COMMUNITY_HEALTH in population.agencies_of(person.nhs_number)
            and local is not None
            and population.rows(gp, local, "conditions")
            and OTHER_GP.agency not in population.agencies_of(person.nhs_number)
        ):
            return person
    raise AssertionError("the demo world has no person for this test")


async def _tab_to(page: Any, target: Any, presses: int = 60) -> None:
    """Press Tab until ``target`` has the focus, as a keyboard user would."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await target.evaluate("element => element === document.activeElement"):
            # The focus must be visible, not only present.
            shadow = await target.evaluate("element => getComputedStyle(element).boxShadow")
            assert shadow != "none", "the focused control shows no focus indicator"
            return
    raise AssertionError(f"Tab never reached {target}")


async def _axe(page: Any, where: str) -> None:
    """Run axe-core on the page as it is; fail on any serious or critical violation."""
    version = await page.evaluate("() => window.axe && window.axe.version")
    assert version == "4.14.1", "axe-core was not injected from tests/browser/node_modules"
    violations = await page.evaluate(
        """async () => {
            const result = await axe.run(document, { resultTypes: ["violations"] });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    serious = [v for v in violations if v["impact"] in {"serious", "critical"}]
    assert serious == [], f"axe-core at {where}: {serious}"


async def test_the_practitioner_page_in_chromium_with_no_network(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    async_playwright = _needed()
    from playwright.async_api import expect

    person = _subject(population)
    gp = population.gp_of(person.nhs_number)
    local = population.local_id(gp, person.nhs_number)
    assert local is not None
    condition = str(population.rows(gp, local, "conditions")[0]["name"])
    # Nothing listens there: the trust's API is not started, so the trust is unavailable.
    closed = f"http://127.0.0.1:{free_port()}"
    settings = await prepare_shared_state(
        tmp_path,
        population,
        store_dir,
        closed,
        f"sqlite+aiosqlite:///{(tmp_path / 'state.sqlite').as_posix()}",
    )
    trust_name = settings.agency(COMMUNITY_HEALTH).name
    pasted = practitioner_token(settings, SOCIAL_WORKER.id)
    gateway = Process(settings.config_dir / "gateway.toml", tmp_path / "gateway.log")
    try:
        await gateway.ready()
        # axe-core is injected at document start, past the page's CSP, which (rightly) lets
        # no test script in any other way.
        async with (
            async_playwright() as playwright,
            offline_page(
                playwright, TIMEOUT_MS, init_script=AXE, viewport=LAPTOP, locale="en-GB"
            ) as page,
        ):
            response = await page.goto(f"{gateway.url}/")
            assert response is not None and response.status == 200
            status = page.get_by_role("status")
            await expect(status).to_contain_text("Sign in to find a person")
            await _axe(page, "the sign-in view")

            # Keyboard alone: sign in as the social worker, find the person, open them.
            await _tab_to(page, page.get_by_role("button", name=SOCIAL_WORKER.name))
            await page.keyboard.press("Enter")
            await expect(status).to_contain_text(f"Signed in as {SOCIAL_WORKER.name}")
            stored = await page.evaluate("sessionStorage.getItem('fame-page-token')")
            assert stored and stored.count(".") == 2, "the token is not kept for the tab"
            nhs = page.get_by_label("NHS number")
            await expect(nhs).to_be_focused()
            await page.keyboard.type(person.nhs_number)
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("heading", name="1 person found")).to_be_focused()
            await _tab_to(
                page, page.get_by_role("button", name=f"Open record of {person.full_name}")
            )
            await page.keyboard.press("Enter")
            heading = page.get_by_role("heading", name=person.full_name, level=2)
            await expect(heading).to_be_focused()

            # The unavailable agency, marked and explained; a withheld item, explained.
            agencies = page.get_by_role("region", name="Agencies involved")
            trust = agencies.get_by_role("listitem").filter(has_text=trust_name)
            await expect(trust).to_contain_text("Unavailable")
            records = page.get_by_role("region", name=trust_name)
            unavailable = SOURCE_STATUSES["AGENCY_UNAVAILABLE"].text
            await expect(records).to_contain_text(unavailable)
            withheld = page.get_by_role("region", name="Withheld from you")
            no_consent = WITHHELD_REASONS["NO_CONSENT"]
            diagnoses = withheld.get_by_role("listitem").filter(
                has_text="Conditions: Name, Onset, Status"
            )
            await expect(diagnoses).to_contain_text(no_consent.text)
            await expect(withheld).to_contain_text(WITHHELD_REASONS["SEALED"].text)
            await expect(page.get_by_text(condition, exact=True)).to_have_count(0)
            await _axe(page, f"the person view at {LAPTOP}")
            # The top of the page: who is signed in, the search, and the person's picture
            # as far as the records of the first agency.
            laptop = screenshot_path("practitioner-page.png", tmp_path)
            await page.screenshot(
                path=str(laptop),
                full_page=True,
                clip={"x": 0, "y": 0, "width": LAPTOP["width"], "height": 1500},
            )
            assert_png(laptop)

            # Record the person's consent from the withheld item: the item appears.
            await withheld.get_by_role("button", name="Record consent for Conditions").click()
            evidence = page.get_by_label("Evidence", exact=True)
            await expect(evidence).to_be_focused()
            await evidence.fill(CONSENT_EVIDENCE)
            await page.get_by_role("button", name="Record consent", exact=True).click()
            await expect(status).to_contain_text("Consent recorded")
            await expect(status).to_contain_text("The picture is refreshed")
            await expect(page.get_by_text(condition, exact=True)).to_have_count(1)
            await expect(diagnoses).to_have_count(0)
            sealed = withheld.get_by_role("listitem").filter(has_text="Conditions: Code")
            await expect(sealed).to_contain_text(WITHHELD_REASONS["SEALED"].text)

            # Withdraw it: the item is withheld again.
            await page.get_by_role("button", name="Withdraw consent").click()
            await expect(status).to_contain_text("Consent withdrawn")
            await expect(diagnoses).to_contain_text(no_consent.text)
            await expect(page.get_by_text(condition, exact=True)).to_have_count(0)

            await page.set_viewport_size(TABLET)
            await _axe(page, f"the person view at {TABLET}")
            # What a tablet shows on opening the record: the person and their agencies.
            await page.evaluate(
                "window.scrollTo(0, document.getElementById('person').offsetTop - 16)"
            )
            tablet = screenshot_path("practitioner-page-tablet.png", tmp_path)
            await page.screenshot(path=str(tablet))
            assert_png(tablet)

            # Safeguarding, claimed with an enquiry reference and a reason, is shown.
            await page.get_by_label("Enquiry or referral reference").fill(ENQUIRY)
            form = page.locator("#safeguarding-form")
            await form.get_by_label("What is happening").fill(SAFEGUARDING_REASON)
            await page.get_by_role("button", name="Claim safeguarding").click()
            await expect(status).to_contain_text("Safeguarding established until")
            await expect(status).to_contain_text("The picture is refreshed")
            await expect(page.locator("#person")).to_contain_text(ENQUIRY)

            # A GP of another practice has no relationship: the record is not available,
            # until they break glass with a reason.
            await page.get_by_role("button", name="Sign out").click()
            await expect(status).to_contain_text("Signed out")
            assert await page.evaluate("sessionStorage.getItem('fame-page-token')") is None
            await page.get_by_role("button", name=OTHER_GP.name).click()
            await expect(status).to_contain_text(f"Signed in as {OTHER_GP.name}")
            await page.get_by_label("NHS number").fill(person.nhs_number)
            await page.get_by_role("button", name="Find").click()
            await page.get_by_role("button", name=f"Open record of {person.full_name}").click()
            await expect(
                page.get_by_role("heading", name="The record is not available to you")
            ).to_be_visible()
            await (
                page.locator("#break-glass-form")
                .get_by_label("What is happening")
                .fill(BREAK_GLASS_REASON)
            )
            await page.get_by_role("button", name="Break glass").click()
            await expect(status).to_contain_text("Emergency access granted until")
            await expect(status).to_contain_text("The picture is refreshed")
            await expect(page.locator("#person")).to_contain_text(
                "Emergency access (break glass) in force"
            )
            await expect(page.get_by_role("region", name="Agencies involved")).to_contain_text(
                trust_name
            )

            # Outside the demo, a practitioner pastes their agency's token.
            await page.get_by_role("button", name="Sign out").click()
            await page.get_by_label("Access token").fill(pasted)
            await page.get_by_role("button", name="Sign in", exact=True).click()
            await expect(status).to_contain_text(f"Signed in as {SOCIAL_WORKER.name}")
            kept = await page.evaluate("sessionStorage.getItem('fame-page-token')")
            assert kept == pasted
    finally:
        gateway.stop()
