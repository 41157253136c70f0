"""Voice messages on the staff side: the complaint page and the API (for
whoever may see the complaint), the booking page and the urgent list (for
roles that see the topic: it is personal data), always behind sign-in, with
an audio type the page's policy lets it play; Open311 never shows audio."""

from __future__ import annotations

from datetime import date, timedelta

from bot.models import VoiceMessage, VoiceStatus
from tests.admin.conftest import StaffClient
from tests.admin.test_complaints_api import media
from tests.admin.test_pages import sign_in
from tests.factories import make_booking, make_complaint, make_staff, make_urgent, make_voice
from tests.open311.conftest import V2, publish


def test_the_complaint_page_plays_it_and_the_api_lists_it(client: StaffClient) -> None:
    reference = make_complaint(client.db, description="(glasovna poruka)")
    voice_id = make_voice(client.db, complaint=reference, media_dir=media(client), duration=42)
    pending = make_voice(client.db, complaint=reference, media_dir=media(client))
    with client.db.session() as session:
        row = session.get(VoiceMessage, pending)
        assert row is not None
        row.status, row.path = VoiceStatus.rejected, None
    source = f"/staff/complaints/{reference}/voice/{voice_id}"
    assert client.get(source, follow_redirects=False).status_code in (303, 307, 401)

    make_staff(client.db, "lights1", "department", "cadastre_urbanism")
    sign_in(client, "lights1")
    page = client.get(f"/staff/complaints/{reference}")
    assert f'<audio controls preload="metadata" src="{source}">' in page.text
    assert f'href="{source}?download=true" download' in page.text
    assert "Length 0:42" in page.text
    assert "Voice message: not kept (not a recording" in page.text
    assert "media-src 'self'" in page.headers["content-security-policy"]
    played = client.get(source)
    assert played.status_code == 200 and played.headers["content-type"] == "audio/wav"
    assert played.headers["cache-control"] == "private, no-store"
    assert "attachment" not in played.headers.get("content-disposition", "")
    kept = client.get(source, params={"download": "true"})
    assert kept.headers["content-disposition"].startswith("attachment;")
    assert f"{reference}-voice-{voice_id}.wav" in kept.headers["content-disposition"]
    assert client.get(f"/staff/complaints/{reference}/voice/{pending}").status_code == 404

    other = make_complaint(client.db, category="water")  # another department's
    theirs = make_voice(client.db, complaint=other, media_dir=media(client))
    assert client.get(f"/staff/complaints/{other}/voice/{theirs}").status_code == 404
    assert client.get(f"/staff/complaints/{reference}/voice/{theirs}").status_code == 404

    headers = client.as_role("info_office")
    detail = client.get(f"/api/v1/complaints/{reference}", headers=headers).json()
    listed = {v["id"]: v for v in detail["voice_messages"]}
    assert listed[voice_id]["length"] == "0:42" and listed[pending]["url"] is None
    answer = client.get(listed[voice_id]["url"], headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"


def test_bookings_and_urgent_requests_play_it_for_roles_that_see_the_topic(
        client: StaffClient) -> None:
    booking = make_booking(client.db, day=date.today() + timedelta(days=9),
                           topic="(glasovna poruka)")
    said = make_voice(client.db, booking=booking, media_dir=media(client), duration=65)
    urgent = make_urgent(client.db, topic="(glasovna poruka)")
    urgent_said = make_voice(client.db, urgent=urgent, media_dir=media(client))
    source = f"/staff/reception/bookings/{booking}/voice/{said}"
    urgent_source = f"/staff/reception/urgent/{urgent}/voice/{urgent_said}"

    make_staff(client.db, "viewer1", "viewer")
    sign_in(client, "viewer1")
    assert "<audio" not in client.get(f"/staff/reception/bookings/{booking}").text
    assert "<audio" not in client.get("/staff/reception").text
    assert client.get(source).status_code == 404
    assert client.get(urgent_source).status_code == 404
    client.cookies.clear()

    make_staff(client.db, "mayor1", "mayor_office")
    sign_in(client, "mayor1")
    page = client.get(f"/staff/reception/bookings/{booking}")
    assert f'src="{source}"' in page.text and "Length 1:05" in page.text
    assert client.get(source).headers["content-type"] == "audio/wav"
    listing = client.get("/staff/reception")
    assert f'src="{urgent_source}"' in listing.text
    assert client.get(urgent_source).status_code == 200
    assert client.get(f"/staff/reception/urgent/{urgent}/voice/{said}").status_code == 404


def test_open311_shows_the_text_and_never_the_recording(client: StaffClient) -> None:
    reference = make_complaint(client.db, description="(glasovna poruka)")
    make_voice(client.db, complaint=reference, media_dir=media(client))
    publish(client.db, reference)
    [shown] = client.get(f"{V2}/requests/{reference}.json").json()
    assert shown["description"] == "(glasovna poruka)" and shown["media_url"] is None
    assert "voice" not in str(shown)
