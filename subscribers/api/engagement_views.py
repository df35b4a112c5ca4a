"""Engagement over the API: integrators post tracked events; anyone with read access pages a subscriber's history."""

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.errors import flatten_validation_detail
from core.api.pagination import PageRequest, page_envelope
from core.api.views import ApiView, scopes_for
from core.errors import InvalidFilter, Issue
from subscribers import selectors, services
from subscribers.api import engagement_serializers as s
from subscribers.services.engagement import EngagementEventInput

SEED_PAGE_EXAMPLE = OpenApiExample(
    "Seed example", value={"page": 1, "limit": 10, "filters": {"campaignCode": "SUMMER-SALE-2024"}}, request_only=True
)
EVENTS_EXAMPLE = OpenApiExample(
    "Opens, a click and a purchase",
    value={
        "events": [
            {
                "event_id": "esp-evt-1001",
                "type": "opened",
                "subscriber_id": "sub_7k9mNp2QrT8x",
                "marketing_email_id": "memail_xyz789",
                "occurred_at": "2024-06-15T14:30:00Z",
            },
            {
                "event_id": "esp-evt-1002",
                "type": "clicked",
                "email": "john.doe@example.com",
                "campaign_code": "SUMMER-SALE-2024",
                "url": "https://shop.example.com/summer-sale",
            },
            {
                "event_id": "order-5531",
                "type": "purchase",
                "subscriber_id": "sub_7k9mNp2QrT8x",
                "marketing_email_id": "memail_xyz789",
                "amount": 129.99,
            },
        ]
    },
    request_only=True,
)


def _event_input(data: dict[str, Any]) -> EngagementEventInput:
    return EngagementEventInput(
        event_id=data["event_id"],
        event_type=data["type"],
        subscriber_id=data.get("subscriber_id") or None,
        email=data.get("email") or None,
        marketing_email_id=data.get("marketing_email_id") or None,
        campaign_code=data.get("campaign_code") or None,
        occurred_at=data.get("occurred_at"),
        url=data.get("url") or None,
        amount=data.get("amount"),
        duration_seconds=data.get("duration_seconds"),
        bounce_type=data.get("bounce_type"),
        reason=data.get("reason") or None,
        metadata=data.get("metadata") or {},
    )


def _reason(detail: Any) -> str:
    return "; ".join(f"{issue.field}: {issue.message}" for issue in flatten_validation_detail(detail))


class EngagementEventsView(ApiView):
    """`POST /api/engagements/events`: a batch of tracked events, applied idempotently."""

    scope_map = scopes_for("subscribers", read=(), write=("POST",))
    max_body_bytes = 8 * 1024 * 1024  # 1,000 events with their metadata

    @extend_schema(
        request=s.EngagementEventsRequestSerializer,
        responses=s.EngagementEventsResponseSerializer,
        examples=[EVENTS_EXAMPLE],
        operation_id="engagement_events_record",
        summary="Record tracked engagement events, idempotently",
        description=(
            "Up to 1,000 events (sent, delivered, opened, clicked, page_view, purchase, unsubscribed, bounced, "
            "complained), each naming its subscriber by subscriber_id or email. An event whose event_id was seen "
            "before changes nothing and counts as a duplicate; an invalid event is reported with its index and never "
            "stops the others. A hard bounce or a spam complaint makes the subscriber inactive."
        ),
    )
    def post(self, request: Request) -> Response:
        items = self.parse(s.EventsEnvelopeSerializer)["events"]
        inputs: list[EngagementEventInput] = []
        indexes: list[int] = []
        invalid: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            raw_id = item.get("event_id") if isinstance(item, dict) else None
            event_id = raw_id if isinstance(raw_id, str) else None
            if not isinstance(item, dict):
                invalid.append({"index": index, "event_id": None, "reason": "an event is a JSON object"})
                continue
            serializer = s.EngagementEventSerializer(data=item)
            if not serializer.is_valid():
                invalid.append({"index": index, "event_id": event_id, "reason": _reason(serializer.errors)})
                continue
            inputs.append(_event_input(serializer.validated_data))
            indexes.append(index)
        outcome = services.engagement_events_record(events=inputs)
        invalid.extend(
            {"index": indexes[rejected.position], "event_id": rejected.event_id, "reason": rejected.reason}
            for rejected in outcome.rejected
        )
        invalid.sort(key=lambda entry: entry["index"])
        return Response({"accepted": outcome.accepted, "duplicates": outcome.duplicates, "invalid": invalid})


class SubscriberEngagementsView(ApiView):
    """`POST /api/subscribers/{id}/engagements`: the seed's engagement history page."""

    scope_map = scopes_for("subscribers", read=("POST",), write=())
    not_found_code = "SUBSCRIBER_NOT_FOUND"
    not_found_message = "Subscriber not found"

    @extend_schema(
        request=s.EngagementPageRequestSerializer,
        responses=s.EngagementPageSerializer,
        examples=[SEED_PAGE_EXAMPLE],
        operation_id="subscriber_engagements",
        description="A subscriber's engagement with each campaign, latest send first.",
    )
    def post(self, request: Request, subscriber_id: str) -> Response:
        subscriber = selectors.subscriber_get(subscriber_id)
        filters = request.data.get("filters") if isinstance(request.data, dict) else None
        filters = filters if isinstance(filters, dict) else {}
        # An unknown filter is INVALID_FILTER, as the seed's filters elsewhere, rather than an unknown field.
        unknown = sorted(set(filters) - set(s.EngagementFiltersSerializer().fields))
        if unknown:
            raise InvalidFilter(
                issues=[
                    Issue(f"filters.{name}", "Unknown filter; use campaignCode or marketingEmailId") for name in unknown
                ]
            )
        data = self.parse(s.EngagementPageRequestSerializer)
        chosen = data.get("filters") or {}
        queryset = services.subscriber_engagements(
            subscriber=subscriber,
            campaign_code=chosen.get("campaignCode") or None,
            marketing_email_id=chosen.get("marketingEmailId") or None,
        )
        page = PageRequest(page=data["page"], limit=data["limit"])
        context = {"subscriber": subscriber}
        return Response(
            page_envelope(
                queryset, page, lambda rows: s.EngagementOutputSerializer(rows, many=True, context=context).data
            )
        )
