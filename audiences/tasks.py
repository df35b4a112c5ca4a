"""Background work on audiences. Each task takes ids, calls a service and owns its failure handling."""

import logging

from django.db.models import QuerySet
from django.utils import timezone

from audiences.membership import audience_materialize
from audiences.models import Audience, AudienceDailyCount, ListDailyCount, MarketingList
from audiences.selectors import audience_members, list_members, reachable
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)


def materialize_audience(audience_pk: int, generation: int) -> bool:
    """Recompute one audience's rule matches; a newer rules change makes this run a no-op."""
    return audience_materialize(audience_pk=audience_pk, generation=generation)


def refresh_time_relative_audiences() -> int:
    """Re-evaluate audiences whose rules depend on the clock (windows, relative dates), but those marked `failed`.
    Scheduled by `rq cron`."""
    refreshed = 0
    audiences = Audience.objects.filter(rules_are_time_relative=True).exclude(status=Audience.Status.FAILED)
    for audience in audiences.order_by("pk"):
        try:
            refreshed += audience_materialize(audience_pk=audience.pk)
        except Exception:
            logger.exception("Refreshing audience %s failed", audience.public_id)
    return refreshed


def record_daily_counts() -> int:
    """Write today's member and reachable counts of every audience and every list (the growth charts' and the growth
    endpoints' data), from the same selectors as every other count. Idempotent per day: a second run the same day
    overwrites that day's rows with fresh counts. Scheduled daily by `rq cron`; answers the number of audiences
    recorded (lists are recorded alongside)."""
    today = timezone.localdate()
    audience_rows, list_rows = [], []
    for audience in Audience.objects.order_by("pk"):
        try:
            members, reach = _counts(audience_members(audience))
            audience_rows.append(
                AudienceDailyCount(audience=audience, day=today, member_count=members, reachable_count=reach)
            )
        except Exception:
            logger.exception("Counting audience %s failed", audience.public_id)
    for marketing_list in MarketingList.objects.select_related("audience").order_by("pk"):
        try:
            members, reach = _counts(list_members(marketing_list))
            list_rows.append(
                ListDailyCount(marketing_list=marketing_list, day=today, member_count=members, reachable_count=reach)
            )
        except Exception:
            logger.exception("Counting list %s failed", marketing_list.public_id)
    counts = ["member_count", "reachable_count"]
    AudienceDailyCount.objects.bulk_create(
        audience_rows, batch_size=500, update_conflicts=True, unique_fields=["audience", "day"], update_fields=counts
    )
    ListDailyCount.objects.bulk_create(
        list_rows, batch_size=500, update_conflicts=True, unique_fields=["marketing_list", "day"], update_fields=counts
    )
    return len(audience_rows)


def _counts(members: QuerySet[Subscriber]) -> tuple[int, int]:
    return members.count(), reachable(members).count()
