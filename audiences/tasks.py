"""Background work on audiences. Each task takes ids, calls a service and owns its failure handling."""

import logging

from django.utils import timezone

from audiences.membership import audience_materialize
from audiences.models import Audience, AudienceDailyCount
from audiences.selectors import audience_members, reachable

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
    """Write today's member and reachable counts of every audience (the growth chart's data), from the same selectors
    as every other count. Idempotent per day: a second run the same day overwrites that day's row with fresh counts.
    Scheduled daily by `rq cron`; answers the number of audiences recorded."""
    today = timezone.localdate()
    rows = []
    for audience in Audience.objects.order_by("pk"):
        try:
            members = audience_members(audience)
            rows.append(
                AudienceDailyCount(
                    audience=audience,
                    day=today,
                    member_count=members.count(),
                    reachable_count=reachable(members).count(),
                )
            )
        except Exception:
            logger.exception("Counting audience %s failed", audience.public_id)
    AudienceDailyCount.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["audience", "day"],
        update_fields=["member_count", "reachable_count"],
    )
    return len(rows)
