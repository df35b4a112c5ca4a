from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import PageRequestSerializer
from core.api.schema import IdResponseSerializer, RosterAutoSchema, page_of
from core.api.views import ApiView, PagedListView, expected_version, scopes_for, with_etag
from core.conditions import FieldRegistry
from core.conditions.fields import DateTimeKind, PublicIdKind, StringKind
from core.errors import ValidationFailed
from core.http import client_ip
from preferences import selectors, services
from preferences.api import serializers as s
from preferences.links import subscriber_links
from preferences.tokens import Purpose
from subscribers.api.engagement_views import SubscriberEngagementsView
from subscribers.models import ConsentRecord
from subscribers.selectors import subscriber_get
from subscribers.services import ConsentSource

# Marketing emails: settings-like content, under the settings scopes.


class MarketingEmailApiView(ApiView):
    scope_map = scopes_for("settings")
    validation_error_message = "Invalid marketing email"
    not_found_message = "Marketing email not found"


def _email_changes(data: dict[str, Any]) -> dict[str, Any]:
    changes = {
        name: data[name] for name in ("name", "subject", "campaign_code", "html_content", "sent_at") if name in data
    }
    if "subscription_type_id" in data:
        public_id = data["subscription_type_id"]
        changes["subscription_type"] = (
            selectors.subscription_type_named(public_id, field="subscription_type_id") if public_id else None
        )
    return changes


class MarketingEmailCollectionView(MarketingEmailApiView):
    """Store a marketing email; its HTML may use merge tags such as {{ first_name }} and {{ unsubscribe_url }}."""

    @extend_schema(
        request=s.MarketingEmailInputSerializer, responses=IdResponseSerializer, operation_id="marketing_email_create"
    )
    def post(self, request: Request) -> Response:
        """Store a marketing email (name, subject, campaign code, subscription type, HTML).

        Its HTML may use merge tags such as {{ first_name }} and {{ unsubscribe_url }}, filled in for each subscriber
        by "view in browser"."""
        data = self.parse(s.MarketingEmailInputSerializer)
        created = services.marketing_email_create(**_email_changes(data))
        return Response({"id": created.public_id})


class MarketingEmailListView(PagedListView, MarketingEmailApiView):
    """A page of marketing emails, without their HTML."""

    scope_map = scopes_for("settings", read=("POST",), write=())
    search_fields = ("name", "subject", "campaign_code")
    sort_fields = ("id", "name", "campaign_code", "sent_at", "created_at", "updated_at")
    output_serializer = s.MarketingEmailSummarySerializer

    def get_queryset(self):
        return selectors.marketing_email_list().defer("html_content")

    def get_registry(self) -> FieldRegistry:
        return FieldRegistry(
            {
                "id": PublicIdKind("public_id"),
                "name": StringKind("name"),
                "subject": StringKind("subject"),
                "campaign_code": StringKind("campaign_code"),
                "subscription_type_id": PublicIdKind("subscription_type__public_id", nullable=True),
                "sent_at": DateTimeKind("sent_at", nullable=True),
                "created_at": DateTimeKind("created_at"),
                "updated_at": DateTimeKind("updated_at", nullable=True),
            }
        )

    @extend_schema(request=PageRequestSerializer, responses=page_of(s.MarketingEmailSummarySerializer))
    def post(self, request: Request) -> Response:
        """Page through marketing emails, without their HTML (`search` in name, subject and campaign code)."""
        return super().post(request)


class MarketingEmailDetailView(MarketingEmailApiView):
    """One marketing email. Updates take `version` (or If-Match) and change only the fields sent."""

    @extend_schema(responses=s.MarketingEmailOutputSerializer)
    def get(self, request: Request, email_id: str) -> Response:
        """One marketing email, with its HTML."""
        email = selectors.marketing_email_get(email_id)
        return with_etag(Response(s.MarketingEmailOutputSerializer(email).data), email.version)

    @extend_schema(request=s.MarketingEmailInputSerializer, responses=IdResponseSerializer)
    def put(self, request: Request, email_id: str) -> Response:
        """Update a marketing email: the fields sent change (with `version` or If-Match to detect conflicts)."""
        email = selectors.marketing_email_get(email_id)
        data = self.parse(s.MarketingEmailInputSerializer, partial=True)
        email = services.marketing_email_update(
            marketing_email=email, expected_version=expected_version(request, data), **_email_changes(data)
        )
        return with_etag(Response({"id": email.public_id}), email.version)

    @extend_schema(responses=IdResponseSerializer)
    def delete(self, request: Request, email_id: str) -> Response:
        """Delete a marketing email."""
        services.marketing_email_delete(marketing_email=selectors.marketing_email_get(email_id))
        return Response({"id": email_id})


# Links for one subscriber and email


class SubscriberLinksView(ApiView):
    """Every link to put in one email for one subscriber: preference center, view in browser, one-click
    unsubscribe, and the List-Unsubscribe headers. Their tokens change consent without any key, so they need
    `links:read`, which `subscribers:read` does not imply."""

    scope_map = scopes_for("links", write=())
    not_found_code = "SUBSCRIBER_NOT_FOUND"
    not_found_message = "Subscriber not found"

    @extend_schema(parameters=[s.LinksQuerySerializer], responses=s.LinksSerializer, operation_id="subscriber_links")
    def get(self, request: Request, subscriber_id: str) -> Response:
        """Every link to put in one email for one subscriber, and the List-Unsubscribe header values.

        Preference center, one-click unsubscribe (RFC 8058) and, with `marketing_email_id`, view in browser. The
        links carry signed tokens that act for the subscriber without a key."""
        subscriber = subscriber_get(subscriber_id)
        query = self.parse(s.LinksQuerySerializer, request.query_params.dict())
        marketing_email = subscription_type = None
        if query.get("marketing_email_id"):
            try:
                marketing_email = selectors.marketing_email_get(query["marketing_email_id"])
            except selectors.MarketingEmailNotFound:
                raise ValidationFailed.on("marketing_email_id", "Unknown marketing email") from None
        if query.get("subscription_type_id"):
            subscription_type = selectors.subscription_type_named(
                query["subscription_type_id"], field="subscription_type_id"
            )
        links = subscriber_links(subscriber, marketing_email=marketing_email, subscription_type=subscription_type)
        return Response(s.LinksSerializer(links).data)


# The token-authorized endpoints (seed 001). The token in the path is the whole authorization, for one subscriber:
# no API key is needed, and one that is sent is not even looked at, so a page in a browser can call them (CORS).


def private(response: Response) -> Response:
    """Personal data reached by a link: no shared cache keeps it."""
    response["Cache-Control"] = "private, no-store"
    return response


TOKEN_PARAMETER = OpenApiParameter("token", str, OpenApiParameter.PATH, description="Secure token from an email link")


class TokenSchema(RosterAutoSchema):
    """No key and no scope here: a bad token is the one failure besides bad input."""

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        for status in ("401", "403", "409"):
            responses.pop(status, None)
        if "404" in responses:
            responses["404"]["description"] = "INVALID_TOKEN: forged, truncated, expired or revoked token"
        return responses


class TokenApiView(ApiView):
    """Authorized by the token in the path alone."""

    schema = TokenSchema()
    authentication_classes: list = []
    permission_classes = [AllowAny]
    not_found_code = "INVALID_TOKEN"
    not_found_message = selectors.InvalidToken.default_message


class SubscriberPreferencesView(TokenApiView):
    """A subscriber's choices for a preference page, and their changes (granular, replace-all, or global
    unsubscribe). Authorized by the preference token alone."""

    def http_method_not_allowed(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        # `POST /api/subscribers/preferences/engagements` is the path of two routes of the seeds: this one, with the
        # token "engagements", which takes no POST, and the engagements of a subscriber whose id is "preferences"
        # (none is: ids start with `sub_`). The subscriber route answers it, as it answers any id: with its key and
        # scope checks, then 404 SUBSCRIBER_NOT_FOUND.
        if request.method == "POST" and kwargs.get("token") == "engagements":
            return SubscriberEngagementsView.as_view()(request._request, subscriber_id="preferences")
        return super().http_method_not_allowed(request, *args, **kwargs)

    @extend_schema(
        parameters=[TOKEN_PARAMETER], responses=s.PreferencesSerializer, operation_id="subscriber_preferences_get"
    )
    def get(self, request: Request, token: str) -> Response:
        """A subscriber's choices, for a preference page: the brand, each subscription type and whether they are
        subscribed to it.

        Authorized by the preference token alone (no API key)."""
        claims = selectors.link_claims(Purpose.PREFERENCES, token)
        state = selectors.preference_center_state(claims)
        return private(Response(s.PreferencesSerializer(state).data))

    @extend_schema(
        parameters=[TOKEN_PARAMETER],
        request=s.PreferencesUpdateSerializer,
        responses=s.SuccessSerializer,
        operation_id="subscriber_preferences_update",
    )
    def put(self, request: Request, token: str) -> Response:
        """Save a subscriber's choices from a preference page: granular, replace-all, or unsubscribe from everything
        (`subscriber_updates.mark_inactive`).

        Authorized by the preference token alone; every change is recorded as consent with its source."""
        claims = selectors.link_claims(Purpose.PREFERENCES, token)
        data = self.parse(s.PreferencesUpdateSerializer)
        subscriber_updates = data.get("subscriber_updates") or {}
        shown = data["shown_subscription_types"]
        services.preference_center_update(
            subscriber=claims.subscriber,
            updates=data["subscription_updates"],
            replace_all=data["replace_all"],
            mark_inactive=subscriber_updates.get("mark_inactive", False),
            inactive_reason=subscriber_updates.get("inactive_reason") or "",
            shown_type_pks=selectors.subscription_type_pks(shown) if shown is not None else None,
            source=ConsentSource(
                source=ConsentRecord.Source.PREFERENCE_API,
                ip_address=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
                marketing_email_id=claims.marketing_email.pk if claims.marketing_email else None,
            ),
        )
        return private(Response({"success": True}))


class EmailPreviewView(TokenApiView):
    """The marketing email rendered for the subscriber, for "view in browser". Authorized by the token alone."""

    @extend_schema(parameters=[TOKEN_PARAMETER], responses=s.EmailPreviewSerializer, operation_id="email_preview")
    def get(self, request: Request, token: str) -> Response:
        """A marketing email's HTML rendered for one subscriber, for "view in browser".

        Authorized by the view-in-browser token alone (no API key)."""
        claims = selectors.link_claims(Purpose.EMAIL_VIEW, token)
        if claims.marketing_email is None:
            raise selectors.InvalidToken()
        html = services.render_email_for(claims.marketing_email, claims.subscriber)
        return private(Response({"html_content": html}))
