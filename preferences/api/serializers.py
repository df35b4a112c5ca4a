from typing import Any

from rest_framework import serializers

from core.api.fields import TimestampField
from core.api.serializers import InputSerializer, RecordInputSerializer
from preferences.models import MarketingEmail
from preferences.selectors import PreferenceCenterState

# Gmail clips messages past ~100 KB; ten times that is room for any real email and a bound on what is stored.
MAX_HTML_LENGTH = 1_000_000


# Marketing emails


class MarketingEmailInputSerializer(RecordInputSerializer):
    """Create: name is needed. Update (partial=True): what is sent changes, the rest stays."""

    name = serializers.CharField(max_length=200)
    subject = serializers.CharField(max_length=500, allow_blank=True, allow_null=True, required=False)
    campaign_code = serializers.CharField(max_length=100, allow_blank=True, allow_null=True, required=False)
    subscription_type_id = serializers.CharField(max_length=64, allow_blank=True, allow_null=True, required=False)
    html_content = serializers.CharField(
        max_length=MAX_HTML_LENGTH, allow_blank=True, allow_null=True, required=False, trim_whitespace=False
    )
    sent_at = serializers.DateTimeField(allow_null=True, required=False)
    version = serializers.IntegerField(min_value=1, required=False)


class MarketingEmailSummarySerializer(serializers.ModelSerializer):
    """A row of the paged list: everything but the HTML, which GET /api/marketing-emails/{id} answers."""

    id = serializers.CharField(source="public_id")
    subscription_type_id = serializers.SerializerMethodField()
    sent_at = TimestampField(allow_null=True)
    created_at = TimestampField()
    updated_at = TimestampField(allow_null=True)

    class Meta:
        model = MarketingEmail
        fields = (
            "id", "name", "subject", "campaign_code", "subscription_type_id", "sent_at",
            "created_at", "updated_at", "version",
        )  # fmt: skip

    def get_subscription_type_id(self, email: MarketingEmail) -> str | None:
        return email.subscription_type.public_id if email.subscription_type_id else None


class MarketingEmailOutputSerializer(MarketingEmailSummarySerializer):
    class Meta(MarketingEmailSummarySerializer.Meta):
        fields = (*MarketingEmailSummarySerializer.Meta.fields, "html_content")


# Links


class LinksQuerySerializer(serializers.Serializer):
    marketing_email_id = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="The email the links go in (adds view in browser)"
    )
    subscription_type_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="What one-click unsubscribe withdraws; defaults to the email's type, else everything",
    )


class LinksSerializer(serializers.Serializer):
    preference_center_url = serializers.URLField()
    preference_token = serializers.CharField()
    view_in_browser_url = serializers.URLField(allow_null=True, help_text="Null unless marketing_email_id is given")
    unsubscribe_url = serializers.URLField()
    list_unsubscribe = serializers.CharField(help_text="The List-Unsubscribe header value (RFC 2369)")
    list_unsubscribe_post = serializers.CharField(help_text="The List-Unsubscribe-Post header value (RFC 8058)")


# The token-authorized preference API (seed 001, "Subscription Preferences")


class TenantSerializer(serializers.Serializer):
    id = serializers.CharField(source="tenant_id")
    name = serializers.CharField()
    brand_logo_url = serializers.SerializerMethodField()
    brand_primary_color = serializers.CharField()

    def get_brand_logo_url(self, brand: Any) -> str | None:
        return brand.brand_logo_url or None


class SubscriptionStateSerializer(serializers.Serializer):
    subscription_type_id = serializers.CharField()
    subscribed = serializers.BooleanField()


class PreferenceSubscriberSerializer(serializers.Serializer):
    email = serializers.EmailField()
    subscriptions = SubscriptionStateSerializer(many=True)


class AvailableSubscriptionTypeSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    description = serializers.CharField()


class ReferrerSerializer(serializers.Serializer):
    marketingEmailId = serializers.CharField(allow_null=True)  # noqa: N815 - the seed's name
    subscriptionTypeId = serializers.CharField(allow_null=True)  # noqa: N815


class PreferencesSerializer(serializers.Serializer):
    tenant = TenantSerializer()
    subscriber = PreferenceSubscriberSerializer()
    available_subscription_types = AvailableSubscriptionTypeSerializer(many=True)
    referrer = ReferrerSerializer()

    def to_representation(self, state: PreferenceCenterState) -> dict[str, Any]:
        return super().to_representation(
            {
                "tenant": state.brand,
                "subscriber": {
                    "email": state.subscriber.email,
                    "subscriptions": [
                        {"subscription_type_id": t.public_id, "subscribed": state.subscribed.get(t.pk, False)}
                        for t in state.subscription_types
                    ],
                },
                "available_subscription_types": state.subscription_types,
                "referrer": {
                    "marketingEmailId": state.marketing_email.public_id if state.marketing_email else None,
                    "subscriptionTypeId": state.subscription_type.public_id if state.subscription_type else None,
                },
            }
        )


class PreferenceChoiceSerializer(InputSerializer):
    subscription_type_id = serializers.CharField(max_length=64)
    subscribe = serializers.BooleanField()


class SubscriptionStateInputSerializer(InputSerializer):
    subscription_type_id = serializers.CharField(max_length=64)
    subscribed = serializers.BooleanField()


class PreferenceSubscriberInputSerializer(InputSerializer):
    """`subscriber` as GET answers it: its `subscriptions` say what `subscription_updates` says; the email does not
    change through a token."""

    echo_fields = frozenset({"email"})
    subscriptions = SubscriptionStateInputSerializer(many=True, max_length=200, allow_empty=True, required=False)

    def validate_subscriptions(self, states: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _listed_once(states)


class SubscriberUpdatesSerializer(InputSerializer):
    mark_inactive = serializers.BooleanField(required=False, default=False)
    inactive_reason = serializers.CharField(max_length=500, required=False, allow_blank=True, allow_null=True)


class PreferencesUpdateSerializer(InputSerializer):
    """The seed's update. Takes back the body GET answers: its `subscriber.subscriptions` are the state wanted for the
    types listed (a type shown unchecked and never chosen stays as it is; `replace_all` true extends the state to the
    types not listed); `tenant`, `available_subscription_types`, `referrer` and the email are ignored. Validated, the
    echo becomes `subscription_updates` (the types checked), `replace_all` and `shown_subscription_types` (the types
    listed, or None for all of them)."""

    echo_fields = frozenset({"tenant", "available_subscription_types", "referrer"})
    subscription_updates = PreferenceChoiceSerializer(many=True, max_length=200, allow_empty=True)
    replace_all = serializers.BooleanField()
    subscriber_updates = SubscriberUpdatesSerializer(required=False, allow_null=True)
    subscriber = PreferenceSubscriberInputSerializer(required=False, help_text="The subscriber as GET answers it.")

    def from_echo(self, data: dict[str, Any]) -> dict[str, Any]:
        echoed = data.get("subscriber")
        if isinstance(echoed, dict) and "subscriptions" in echoed:
            if "subscription_updates" in data:
                message = "Give subscription_updates or subscriber.subscriptions, not both"
                raise serializers.ValidationError({"subscriber.subscriptions": [message]})
            data["subscription_updates"] = []  # made from the validated subscriptions (validate)
            data.setdefault("replace_all", False)
        return super().from_echo(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        states = (attrs.pop("subscriber", None) or {}).get("subscriptions")
        attrs["shown_subscription_types"] = None
        if states is not None:
            attrs["subscription_updates"] = [
                {"subscription_type_id": state["subscription_type_id"], "subscribe": True}
                for state in states
                if state["subscribed"]
            ]
            if not attrs["replace_all"]:
                attrs["shown_subscription_types"] = [state["subscription_type_id"] for state in states]
            attrs["replace_all"] = True
        return attrs

    def validate_subscription_updates(self, updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _listed_once(updates)


def _listed_once(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    errors: list[dict[str, Any]] = []
    for item in items:
        public_id = item["subscription_type_id"]
        errors.append({"subscription_type_id": ["Listed more than once"]} if public_id in seen else {})
        seen.add(public_id)
    if any(errors):
        raise serializers.ValidationError(errors)
    return items


class SuccessSerializer(serializers.Serializer):
    success = serializers.BooleanField()


class EmailPreviewSerializer(serializers.Serializer):
    html_content = serializers.CharField()
