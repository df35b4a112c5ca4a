"""A job's page in headless Chromium against a live server: the progress bar follows the job while it runs, then
shows the error report link and hides the cancel button once it ends. Screenshots go to test-artifacts/."""

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from audiences.models import DEFAULT_AUDIENCE_ID, Audience
from audiences.services import list_create
from imports.models import ImportJob, ImportRowError
from tests.browser.chromium import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_progress_bar_follows_the_job_until_it_ends(live_server, browser):
    admin = User.objects.create_superuser("staff", "staff@example.com", "pw")
    session = Client()
    session.force_login(admin)
    newsletter = list_create(
        name="Newsletter", mode="static", audience=Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)
    )
    job = ImportJob.objects.create(marketing_list=newsletter, file_url="https://example.com/people.csv",
                                   import_type="create_update")  # fmt: skip
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session.cookies[settings.SESSION_COOKIE_NAME].value,
          "url": live_server.url}]
    )  # fmt: skip
    context.set_default_timeout(10_000)
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # the admin has none
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))

    page.goto(live_server.url + reverse("admin:imports_importjob_change", args=[job.pk]))
    panel = page.locator("[data-import-progress]")
    bar = panel.locator("progress")
    expect(panel.locator('[data-field="status_label"]')).to_have_text("Pending")
    expect(panel.get_by_role("button", name="Cancel this import")).to_be_visible()
    expect(panel.get_by_role("link", name="Download the error report (CSV)")).to_be_hidden()

    ImportJob.objects.filter(pk=job.pk).update(status="processing", total_rows=10, processed_rows=4, created_contacts=4)
    expect(panel.locator('[data-field="processed_rows"]')).to_have_text("4")
    expect(panel.locator('[data-field="status_label"]')).to_have_text("Processing")
    expect(bar).to_have_attribute("max", "10")
    expect(bar).to_have_attribute("aria-valuenow", "4")
    expect(panel.locator('[data-field="percent"]')).to_have_text("40")
    page.screenshot(path=str(ARTIFACTS / "imports-job-progress-running.png"), full_page=True)

    ImportRowError.objects.create(job=job, row_number=7, email="bad", error_type="invalid_email", message="Invalid")
    ImportJob.objects.filter(pk=job.pk).update(status="completed", processed_rows=10, created_contacts=9,
                                               invalid_contacts=1)  # fmt: skip
    expect(panel.locator('[data-field="status_label"]')).to_have_text("Completed")
    expect(bar).to_have_attribute("aria-valuetext", "10 of 10 rows")
    report = panel.get_by_role("link", name="Download the error report (CSV)")
    expect(report).to_be_visible()
    expect(report).to_have_attribute("href", reverse("admin:imports_importjob_errors", args=[job.pk]))
    expect(panel.get_by_role("button", name="Cancel this import")).to_be_hidden()
    expect(panel.locator('[data-show-when="finished"]')).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "imports-job-progress-finished.png"), full_page=True)
    assert console_errors == []
    context.close()
