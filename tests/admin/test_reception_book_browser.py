"""Booking for a citizen in a real browser (Chromium through Playwright, as
tests/admin/test_browser.py runs it): an officer of the Office of the Mayor
(the office that writes the reception; the information office only reads
it) books a slot for an older citizen already registered for SMS at the
counter, and sees the booking's page say who booked it and that reminders
go by SMS. Refusals answer 409/422, which the browser fixture counts as
console errors: they are tested without a browser in test_reception_book.py.
Screenshots in test-artifacts/ (staff-reception-book*.png)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from bot.db import Database, utcnow
from bot.models.sms import SmsConsentSource
from bot.profile import get_profile
from bot.services import reception as service
from bot.services import sms as sms_service
from tests.admin.test_browser import live_url, page, shot
from tests.factories import PASSWORD, make_day, make_staff

__all__ = ["live_url", "page"]  # the fixtures, used by name
pytestmark = pytest.mark.usefixtures("noon")


def test_the_mayor_s_office_books_for_a_citizen_registered_for_sms(
        db: Database, live_url: str, page: Page) -> None:
    profile = get_profile()
    day = service.today(profile, utcnow()) + timedelta(days=8)
    while day.weekday() == profile.reception.weekday:
        day += timedelta(days=1)
    make_day(db, day=day, start="09:00", slots=6, slot_minutes=20)
    with db.session() as session:
        sms_service.register(session, phone="044 123 456", settlement="mogila",
                             language="sr_Latn", topics=["public_debates"],
                             source=SmsConsentSource.counter, officer="info1", now=utcnow())
    make_staff(db, "mayor1", "mayor_office")
    page.goto(f"{live_url}/staff/login")
    page.fill("#username", "mayor1")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Welcome, mayor1")
    page.goto(f"{live_url}/staff/reception")
    form = page.locator("#book-for-citizen")
    expect(form).to_be_visible()
    page.select_option("#book-slot", f"{day.isoformat()}/2")
    page.fill("#book-phone", "044 123 456")
    page.fill("#book-name", "Dragica Stojanović")
    page.select_option("#book-settlement", "mogila")
    page.select_option("#book-language", "sr_Latn")
    page.fill("#book-topic", "Put do Mogile je oštećen")
    page.check("#book-source input[value=counter]")
    shot(page, "reception-book")
    page.click("#book-button")
    expect(page.locator("p.notice")).to_have_text("The appointment is booked.")
    expect(page.locator("#booked-by")).to_have_text("mayor1 (at the counter)")
    expect(page.locator("#booking")).to_contain_text("Booked by")
    expect(page.locator("#booking")).to_contain_text("09:40")
    expect(page.locator("#told-by-sms")).to_contain_text("+38344123456")
    shot(page, "reception-booked")
