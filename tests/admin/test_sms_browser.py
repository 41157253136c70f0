"""The SMS staff pages in a real browser (Chromium through Playwright, as
tests/admin/test_browser.py runs it): an officer of the information office
registers an older citizen for SMS at the counter and sees the citizen in
the subscriber list (mistakes answer 422, which the browser fixture counts
as a console error: they are tested without a browser in test_sms_staff.py).
Screenshots in test-artifacts/ (staff-sms-register.png, staff-sms-list.png)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from bot.db import Database
from tests.admin.test_browser import live_url, page, shot
from tests.factories import PASSWORD, make_staff

__all__ = ["live_url", "page"]  # the fixtures, used by name
pytestmark = pytest.mark.usefixtures("noon")


def test_the_information_office_registers_a_citizen_for_sms(db: Database, live_url: str,
                                                            page: Page) -> None:
    make_staff(db, "info1", "info_office")
    page.goto(f"{live_url}/staff/login")
    page.fill("#username", "info1")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("nav.main-nav >> text=SMS notices")
    expect(page.locator("h1")).to_have_text("SMS notices")
    page.click("#register-sms")
    page.fill("#phone", "044 123 456")
    page.select_option("#settlement", "mogila")
    page.select_option("#language", "sr_Latn")
    page.check("input[name=topics][value=public_debates]")
    page.check("input[name=topics][value=emergencies]")
    page.check("input[name=source][value=counter]")
    page.check("#consent")
    shot(page, "sms-register")
    page.click("#register-button")
    expect(page.locator("p.notice")).to_contain_text("Registered")
    row = page.locator("#sms-list tbody tr").first
    expect(row).to_contain_text("+38344123456")
    expect(row).to_contain_text("Mogila")
    expect(row).to_contain_text("At the counter")
    expect(row).to_contain_text("info1")
    shot(page, "sms-list")


def test_the_notice_preview_shows_what_the_sms_costs(db: Database, live_url: str,
                                                      page: Page) -> None:
    from tests.handlers.test_notices import TEXTS

    make_staff(db, "info2", "info_office")
    page.goto(f"{live_url}/staff/login")
    page.fill("#username", "info2")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    # Wait for the dashboard: going elsewhere while it loads aborts its request,
    # which the page fixture counts as a failure.
    expect(page.locator("h1")).to_have_text("Welcome, info2")
    page.goto(f"{live_url}/staff/notices/new")
    page.select_option("#topic", "public_debates")
    for locale, text in TEXTS.items():
        page.fill(f"#text-{locale}", text)
    page.fill("#sms-en", "Klokot: budget debate Friday 18:00, assembly hall.")
    page.click("#preview-button")
    expect(page.locator("#sms-preview-en .sms-bubble")).to_have_text(
        "Klokot: budget debate Friday 18:00, assembly hall.")
    expect(page.locator("#sms-preview-en .sms-cost")).to_contain_text("1 SMS segment(s), GSM-7")
    expect(page.locator("#sms-preview-sr_Cyrl .sms-cost")).to_contain_text("UCS-2")
    expect(page.locator("#sms-preview-sr_Latn .sms-other")).to_contain_text("with them")
    shot(page, "notice-preview-sms")
