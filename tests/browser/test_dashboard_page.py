"""The dashboard in a real browser: a developer's session, from opening the page to redelivering a
webhook, with attacker-shaped input shown as text. Every wait is for what the page shows
(Playwright's ``expect``), pushed by the stream; nothing reloads the page. The first test also
takes the screenshot in ``docs/img/dashboard.png``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from mock_server.testing.receiver import Behaviour, WebhookReceiver
from tests.conftest import Fake

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "dashboard.png"
XSS_MRN = "<img src=x onerror=window.__pwned=1>"
XSS_ANSWER = "<script>window.__pwned=2</script><b onmouseover=window.__pwned=3>hover</b>"


def open_dashboard(page: Page, fake: Fake, fragment: str = "") -> None:
    page.goto(f"{fake.url}/_mock/ui{fragment}")
    page.evaluate("window.__loaded = true")  # gone if the page ever reloads
    expect(page.locator("#status")).to_have_text("live")


def still_the_same_page(page: Page) -> None:
    assert page.evaluate("window.__loaded") is True


def register(page: Page, url: str) -> None:
    page.fill("#register input[name=url]", url)
    page.click("#register button")
    expect(page.locator("#webhooks")).to_contain_text(url)


def trigger(page: Page, mode: str = "date_range", scenario: str = "", **fields: str) -> str:
    """Fill the fetch form, send it, and return the job id the page says was accepted."""
    form = page.locator("#trigger")
    form.locator("select[name=search_by]").select_option(mode)
    for name, value in {"start_date": "2025-01-06", "end_date": "2025-01-12", **fields}.items():
        field = form.locator(f"[name={name}]")
        if field.is_visible():
            field.fill(value)
    form.locator("[name=scenario]").fill(scenario)
    result = page.locator("#trigger-result")
    result.evaluate("node => { node.textContent = '' }")
    form.locator("button[type=submit]").click()
    expect(result).to_contain_text("Accepted: job_")
    return result.inner_text().removeprefix("Accepted: ")


def row(page: Page, job_id: str) -> Locator:
    return page.locator(f'#jobs tr[data-job="{job_id}"]')


def attempts(page: Page, job_id: str) -> Locator:
    return row(page, job_id).locator("button.attempt")


def test_trigger_watch_read_and_redeliver_a_webhook(
    page: Page, serve: Callable[..., Fake], receiver: WebhookReceiver
) -> None:
    fake = serve(delay=0.5)
    receiver.default = Behaviour.status(200, body={"received": True, "by": "my app"})
    open_dashboard(page, fake)
    register(page, receiver.url + "/cobalt")

    job_id = trigger(page, end_date="2025-01-06")
    expect(row(page, job_id)).to_be_visible()  # the job appears...
    expect(row(page, job_id).locator(".status")).to_have_text("completed")  # ...and completes
    expect(attempts(page, job_id)).to_have_count(1)
    delivered = receiver.wait_for_webhook(job_id)
    expect(attempts(page, job_id).first).to_contain_text("#1.1 200")

    attempts(page, job_id).first.click()
    detail = page.locator("#detail")
    expect(page.locator("#detail-title")).to_have_text(f"Delivery 1, attempt 1 of {job_id}")
    shown = detail.locator("pre[data-body=request]").inner_text()
    assert shown == json.dumps(delivered.payload, indent=2, ensure_ascii=False)  # pretty-printed, whole
    detail.get_by_role("button", name="Exact bytes").click()
    assert detail.locator("pre[data-body=raw]").inner_text() == delivered.body.decode()
    expect(detail.locator("[data-verdict]")).to_have_text("verifies with the current secret")
    expect(detail).to_contain_text(delivered.headers["cobalt-verification"])
    expect(detail).to_contain_text("Receiver's answer: 200")
    assert json.loads(detail.locator("pre[data-body=response]").inner_text()) == {
        "received": True,
        "by": "my app",
    }

    row(page, job_id).get_by_role("button", name="Redeliver").click()
    expect(attempts(page, job_id)).to_have_count(2)
    expect(attempts(page, job_id).nth(1)).to_contain_text("#2.1 200")
    again = receiver.wait_for(lambda d: d.job_id == job_id, count=2)
    assert again[1].body == delivered.body
    still_the_same_page(page)

    failing = trigger(page, "mrn", scenario="ehr_failure", mrn="MRN-4711")
    expect(row(page, failing).locator(".status")).to_have_text("completed")
    expect(row(page, failing)).to_contain_text("ehr_failure")
    attempts(page, job_id).first.click()
    expect(page.locator("#detail-title")).to_have_text(f"Delivery 1, attempt 1 of {job_id}")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


def test_hold_then_complete_a_held_job_now(
    page: Page, serve: Callable[..., Fake], receiver: WebhookReceiver
) -> None:
    fake = serve(delay=3600)
    fake.register(receiver.url)
    open_dashboard(page, fake)
    page.click("#hold")
    expect(page.locator("#holding")).to_have_text("holding new jobs")
    job_id = trigger(page)
    expect(row(page, job_id).locator(".status")).to_have_text("held")
    row(page, job_id).get_by_role("button", name="Complete now").click()
    expect(row(page, job_id).locator(".status")).to_have_text("completed")
    assert receiver.wait_for_webhook(job_id).payload["job_id"] == job_id
    expect(attempts(page, job_id)).to_have_count(1)

    later = trigger(page)
    expect(row(page, later).locator(".status")).to_have_text("held")
    page.click("#release")
    expect(page.locator("#notice")).to_have_text("Released 1 job(s)")
    expect(page.locator("#holding")).to_be_hidden()
    expect(row(page, later).locator(".status")).to_have_text("scheduled")  # due in an hour

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#reset")
    expect(page.locator("#jobs tbody")).to_have_text("No jobs yet: start a fetch.")
    still_the_same_page(page)


def test_markup_in_an_mrn_or_an_answer_is_shown_as_text_and_runs_nothing(
    page: Page, serve: Callable[..., Fake], receiver: WebhookReceiver
) -> None:
    fake = serve(delay=0)
    fake.register(receiver.url)
    receiver.default = Behaviour.status(500, headers={"content-type": "text/html"}, body=XSS_ANSWER)
    open_dashboard(page, fake)
    job_id = trigger(page, "mrn", mrn=XSS_MRN)
    expect(row(page, job_id)).to_contain_text("mrn " + XSS_MRN)
    expect(attempts(page, job_id)).to_have_count(2)  # a 500 is retried once
    attempts(page, job_id).first.click()
    detail = page.locator("#detail")
    expect(detail.locator("pre[data-body=response]")).to_have_text(XSS_ANSWER)
    assert XSS_MRN in detail.locator("pre[data-body=request]").inner_text()
    page.locator("#journal tr", has_text="/v1/appointments/fetch").click()
    expect(page.locator("#detail-title")).to_contain_text("POST /v1/appointments/fetch")
    assert json.loads(detail.locator("pre[data-body=request]").inner_text())["mrn"] == XSS_MRN
    assert page.locator("img").count() == 0
    assert page.locator("#detail b, #jobs b, #journal b").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_a_large_body_is_cut_with_a_way_to_see_all_of_it(
    page: Page, serve: Callable[..., Fake], receiver: WebhookReceiver
) -> None:
    fake = serve(delay=0)
    fake.register(receiver.url)
    open_dashboard(page, fake)
    job_id = trigger(page, scenario="large=400")
    expect(attempts(page, job_id)).to_have_count(1)
    full = json.dumps(receiver.wait_for_webhook(job_id).payload, indent=2, ensure_ascii=False)
    assert len(full) > 100_000
    attempts(page, job_id).first.click()
    body = page.locator("#detail pre[data-body=request]")
    expect(body).to_be_visible()
    assert body.inner_text() == full[:100_000]
    page.get_by_role("button", name=f"Show all ({len(full):,} characters)").click()
    assert body.inner_text() == full


def test_a_control_token_is_asked_for_once_or_passed_in_the_fragment(
    page: Page, serve: Callable[..., Fake], receiver: WebhookReceiver
) -> None:
    fake = serve(delay=0, control_token="sekret-token")
    fake.register(receiver.url)
    page.goto(f"{fake.url}/_mock/ui")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#token", "wrong")
    page.click("#login button")
    expect(page.locator("#login-error")).to_have_text("The control token was refused.")
    page.fill("#token", "sekret-token")
    page.click("#login button")
    expect(page.locator("#status")).to_have_text("live")
    job_id = trigger(page)
    expect(attempts(page, job_id)).to_have_count(1)
    expect(page.locator("#settings")).to_contain_text("control_token")
    assert "sekret-token" not in page.content()  # shown redacted, like /_mock/config

    other = page.context.new_page()
    open_dashboard(other, fake, "#token=sekret-token")
    assert other.url == f"{fake.url}/_mock/ui"  # out of the address bar (and never sent: a fragment)
    expect(row(other, job_id)).to_be_visible()
