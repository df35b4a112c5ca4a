"""Reads of import jobs."""

from django.db.models import QuerySet

from audiences.models import Audience, MarketingList
from core.ids import is_storable_public_id
from imports.models import ImportJob


def import_jobs_of(*, marketing_list: MarketingList | None = None, audience: Audience | None = None) -> QuerySet:
    """A list's (or an audience's) jobs, newest first, with what their representation reads."""
    jobs = ImportJob.objects.select_related("marketing_list__audience", "audience").order_by("-created_at", "-pk")
    if marketing_list is not None:
        return jobs.filter(marketing_list=marketing_list)
    return jobs.filter(audience=audience)


def import_job_get(
    public_id: str, *, marketing_list: MarketingList | None = None, audience: Audience | None = None
) -> ImportJob | None:
    if not is_storable_public_id(public_id):
        return None
    return import_jobs_of(marketing_list=marketing_list, audience=audience).filter(public_id=public_id).first()


def import_job_by_public_id(public_id: str) -> ImportJob | None:
    if not is_storable_public_id(public_id):
        return None
    return ImportJob.objects.select_related("marketing_list", "audience").filter(public_id=public_id).first()
