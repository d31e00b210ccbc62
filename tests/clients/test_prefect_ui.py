"""The Prefect UI in a real browser, where the migration team watches its waves: Debian's chromium, driven by
Playwright, opens the address `make demo` printed, signs in with the auth string and finds, by clicking as a person
would, the deployments, the wave's run with one run per VM, the wave's table, a VM's progress and the cutover report.

A test reading the API can pass while every page of the UI says "Can't connect to Server API": only the browser
sees what the UI was told (PREFECT_SERVER_UI_API_URL, vmshift/lab/prefect_server.py).

Screenshots of each page go to a temporary folder, or to VMSHIFT_UI_SCREENSHOTS when set (docs/ui/ is made with
`VMSHIFT_UI_SCREENSHOTS=docs/ui .venv/bin/pytest tests/clients/test_prefect_ui.py`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .demo_lab import Built, Demo

pytestmark = [pytest.mark.lab, pytest.mark.clients]

# Debian's chromium: Playwright's own browser download is not reachable from here.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",  # root in a container: no user namespace for the sandbox
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    # The UI's Amplitude client asks amplitude.com for its configuration even when the server's analytics are off:
    # every name but loopback resolves to nothing, so the browser never leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
# Playwright starts each browser on a fresh temporary profile (its --user-data-dir): no session from a past run.
VIEWPORT = {"width": 1280, "height": 800}
# A busy 2-core machine renders a page in seconds, not milliseconds.
SLOW_PAGE_MS = 30_000
GRAPH_DRAW_MS = 10_000
# A click on a link the UI has not yet settled may be undone (below, `follow`): how long one click is given.
NAVIGATION_MS = 10_000
CLICKS_PER_LINK = 3
# Every deployment prefect.yaml declares, as `make demo` deploys them.
DEPLOYMENTS = tuple(deployment["name"] for deployment in yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "prefect.yaml").read_text())["deployments"])
UNREACHABLE_API = "Can't connect to Server API"
RUN_STATES = re.compile("Scheduled|Pending|Running|Completed|Failed|Crashed|Cancelled|Cancelling|Paused|Late")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("VMSHIFT_UI_SCREENSHOTS") or tmp_path_factory.mktemp("ui-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(SLOW_PAGE_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def signed_in(page: Page, demo: Demo) -> Page:
    """The UI at the address the demo printed, signed in with the server's auth string."""
    sign_in(page, demo.ui_address, demo.lab["prefect"]["auth_string"])
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
    return page


def sign_in(page: Page, address: str, auth_string: str) -> None:
    page.goto(address)
    page.locator("input[type=password]").fill(auth_string)
    page.get_by_role("button", name="Login").click()


def shoot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=path)
    return path


def open_link(page: Page, kind: str, text: str) -> None:
    """Click the link to a run, a deployment or an artifact (`kind` is its path segment) showing `text`."""
    follow(page, page.locator(f"a[href*='/{kind}/']", has_text=text).first)


def follow(page: Page, link: Locator) -> None:
    """Click `link` until the page is at its address. A list page writes its filters into the address once it has
    loaded (`?tab=flow-runs&page=1&sort=...`), and the UI's router drops a click that lands before that: the page
    stays on the list (seen in CI: the Runs page, then no run's tabs)."""
    target = urlsplit(link.get_attribute("href") or "").path
    for _ in range(CLICKS_PER_LINK):
        link.click()
        try:
            page.wait_for_url(lambda url: urlsplit(url).path == target, timeout=NAVIGATION_MS)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"{CLICKS_PER_LINK} clicks on the link to {target} left the page at {page.url}")


def run_card(page: Page, run_name: str) -> Locator:
    """The card of one flow run in a list: the innermost block holding its link and a state."""
    link = page.locator("a[href*='/flow-run/']", has_text=run_name)
    return page.locator("div").filter(has=link).filter(has_text=RUN_STATES).last


def completed_run_card(page: Page) -> Locator:
    """The card of a Completed flow run in a list, the innermost block holding a run link and that state (a
    deployment's Scheduled next run stands above its runs)."""
    return page.locator("div").filter(has=page.locator("a[href*='/flow-run/']")).filter(has_text="Completed").last


def open_tab(page: Page, name: str) -> None:
    """Click the tab until it is the selected one: a tab is a change of the address too (`?tab=...`), which the
    page may overwrite as it loads (`follow`)."""
    for _ in range(CLICKS_PER_LINK):
        page.get_by_role("tab", name=name).click()
        try:
            expect(page.get_by_role("tab", name=name, selected=True)).to_be_visible(timeout=NAVIGATION_MS)
            return
        except AssertionError:
            continue
    raise AssertionError(f"{CLICKS_PER_LINK} clicks on the {name} tab left it unselected at {page.url}")


def test_the_address_the_demo_printed_asks_for_the_auth_string_and_refuses_a_wrong_one(
        page: Page, demo: Demo, screenshots: Path) -> None:
    sign_in(page, demo.ui_address, "vmshift:not-the-secret")
    expect(page.get_by_text("Invalid credentials")).to_be_visible()
    expect(page.get_by_role("link", name="Dashboard")).to_have_count(0)
    shoot(page, screenshots, "sign-in-refused")


def test_signed_in_the_dashboard_reaches_the_api_and_shows_the_demo_runs(signed_in: Page, screenshots: Path) -> None:
    # The flow-run tiles count what the API returned: a UI that cannot reach its API counts nothing.
    expect(signed_in.get_by_text("You currently have 0 failed or crashed runs")).to_be_visible()
    expect(signed_in.get_by_text("vmshift", exact=True).first).to_be_visible()
    expect(signed_in.get_by_text(UNREACHABLE_API)).to_have_count(0)
    shoot(signed_in, screenshots, "dashboard")


def test_the_deployments_page_lists_every_deployment_of_prefect_yaml(signed_in: Page, screenshots: Path) -> None:
    signed_in.get_by_role("link", name="Deployments").click()
    expect(signed_in.get_by_text(f"{len(DEPLOYMENTS)} Deployments")).to_be_visible()
    for name in DEPLOYMENTS:
        expect(signed_in.locator("a[href*='/deployments/deployment/']", has_text=name).first).to_be_visible()
    shoot(signed_in, screenshots, "deployments")


def test_the_wave_run_shows_one_completed_run_per_vm(signed_in: Page, built: Built, screenshots: Path) -> None:
    signed_in.get_by_role("link", name="Runs").click()
    open_link(signed_in, "flow-run", "migrate-wave-1")
    open_tab(signed_in, "Subflow Runs")
    expect(signed_in.get_by_text(f"{len(built.wave_vms)} Subflow runs")).to_be_visible()
    for vm in built.wave_vms:
        expect(run_card(signed_in, f"replicate-{vm}")).to_contain_text("Completed")
    # The run graph above is drawn on a canvas (software WebGL here), with no DOM sign of being done: the picture
    # waits a moment for it; nothing is asserted on it.
    signed_in.wait_for_timeout(GRAPH_DRAW_MS)
    shoot(signed_in, screenshots, "wave-run")


def test_the_wave_table_artifact_gives_each_vm_outcome(signed_in: Page, built: Built, screenshots: Path) -> None:
    signed_in.get_by_role("link", name="Runs").click()
    open_link(signed_in, "flow-run", "migrate-wave-1")
    open_tab(signed_in, "Artifacts")
    open_link(signed_in, "artifacts", "wave-wave-1")
    table = signed_in.locator("table").first
    for vm in built.wave_vms:
        expect(table.locator("tr", has_text=vm)).to_contain_text("protected")
    shoot(signed_in, screenshots, "wave-table")


def test_a_vm_run_shows_its_replication_progress_at_100_percent(
        signed_in: Page, built: Built, screenshots: Path) -> None:
    vm = built.vm
    signed_in.get_by_role("link", name="Runs").click()
    open_link(signed_in, "flow-run", f"replicate-{vm}")
    open_tab(signed_in, "Artifacts")
    open_link(signed_in, "artifacts", f"replication-{vm}")
    expect(signed_in.get_by_text("Progress: 100%")).to_be_visible()
    shoot(signed_in, screenshots, "vm-progress")


def test_the_cutover_deployment_run_carries_the_cutover_report(
        signed_in: Page, built: Built, screenshots: Path) -> None:
    signed_in.get_by_role("link", name="Deployments").click()
    # The cutover deployment's link, not verify-cutover's.
    follow(signed_in, signed_in.locator("a[href*='/deployments/deployment/']",
                                        has_text=re.compile(r"(?<![\w-])cutover(?![\w-])")).first)
    # Above the runs, the deployment's next run: the cutover the demo scheduled for wave-2.
    expect(signed_in.locator("a[href*='/flow-run/']", has_text="cutover-wave-2").first).to_be_visible()
    follow(signed_in, completed_run_card(signed_in).locator("a[href*='/flow-run/']").first)
    open_tab(signed_in, "Artifacts")
    open_link(signed_in, "artifacts", "cutover-wave-1")
    expect(signed_in.get_by_role("heading", name="Cutover of wave wave-1")).to_be_visible()
    for vm in built.wave_vms:  # one section per VM: its outcome, its downtime steps, its verification
        expect(signed_in.get_by_role("heading", name=f"{vm}: migrated")).to_be_visible()
    # (the rendered report's bold line; the Raw tab's hidden editor holds the markdown too)
    expect(signed_in.locator("strong", has_text="Verification after the VM started: passed")).to_have_count(
        len(built.wave_vms))
    shoot(signed_in, screenshots, "cutover-report")
