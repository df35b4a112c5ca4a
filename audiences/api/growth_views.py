"""Growth over time (seed 000's "monitor membership fluctuations"): an audience's or a list's daily member counts, as
the worker records them and the admin's growth chart draws them (`audiences.selectors.daily_counts`)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from audiences.api.views import AudienceApiView, ListApiView
from audiences.models import Audience, MarketingList
from audiences.selectors import daily_counts

DEFAULT_DAYS, MAX_DAYS = 30, 366


class GrowthQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1,
        max_value=MAX_DAYS,
        default=DEFAULT_DAYS,
        help_text=f"How many days back, today included (1 to {MAX_DAYS}, {DEFAULT_DAYS} by default).",
    )


class MemberGrowthDaySerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The day (UTC), `YYYY-MM-DD`.")
    count = serializers.IntegerField(help_text="Members at the end of the day's recording.")
    reachable = serializers.IntegerField(help_text="Of them, reachable: active and on no suppression list.")


class MemberGrowthSerializer(serializers.Serializer):
    """Daily member counts, oldest first: one entry per day the worker recorded (days without a record are left
    out, not filled in)."""

    id = serializers.CharField()
    days = serializers.IntegerField(help_text="The window asked for, in days, today included.")
    results = MemberGrowthDaySerializer(many=True)


def growth(target: Audience | MarketingList, query_params: Any) -> dict[str, Any]:
    query = GrowthQuerySerializer(data={"days": query_params["days"]} if "days" in query_params else {})
    query.is_valid(raise_exception=True)
    days = query.validated_data["days"]
    return {
        "id": target.public_id,
        "days": days,
        "results": [
            {"date": row.day.isoformat(), "count": row.members, "reachable": row.reachable}
            for row in daily_counts(target, days=days)
        ],
    }


class AudienceGrowthView(AudienceApiView):
    validation_error_code = "VALIDATION_ERROR"
    validation_error_message = "Invalid growth request"

    @extend_schema(parameters=[GrowthQuerySerializer], responses=MemberGrowthSerializer)
    def get(self, request: Request, audience_id: str) -> Response:
        """An audience's member count per recorded day, oldest first (the last `days` days).

        `days` (1 to 366, 30 by default) counts back from today, today included. Each entry is a day the worker
        recorded (`record_daily_counts`, daily at 23:50 UTC, from the same selectors as the member counts): `date`,
        `count` (members) and `reachable` (active, on no suppression list). A day without a record (the worker did
        not run, or the audience did not exist yet) is left out rather than carried forward: a gap means no figure.
        The admin's growth chart draws the same counts."""
        return Response(growth(self.get_object(audience_id), request.query_params))


class ListGrowthView(ListApiView):
    validation_error_code = "VALIDATION_ERROR"
    validation_error_message = "Invalid growth request"

    @extend_schema(parameters=[GrowthQuerySerializer], responses=MemberGrowthSerializer)
    def get(self, request: Request, list_id: str) -> Response:
        """A list's member count per recorded day, oldest first (the last `days` days).

        Static, dynamic and composed lists alike: the worker counts each list's own members (`list_members`) every
        day next to the audiences', rather than deriving a dynamic list's from its audience. `days` (1 to 366, 30 by
        default) counts back from today, today included; each entry has `date`, `count` and `reachable`; a day
        without a record (before list counts were recorded, or the worker did not run) is left out, not carried
        forward."""
        return Response(growth(self.get_object(list_id), request.query_params))
