import datetime as dt
from collections.abc import Iterable
from typing import Any

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from audiences.models import DEFAULT_AUDIENCE_ID
from core.api.fields import TimestampField, format_timestamp
from core.api.serializers import InputSerializer, RecordInputSerializer
from subscribers.custom_fields import validate_additional_fields
from subscribers.models import CustomField, Subscriber, SubscriptionType, Tag
from subscribers.selectors import subscribers_with_relations
from subscribers.services.subscribers import email_problem


class SubscriptionUpdateSerializer(InputSerializer):
    subscription_type_id = serializers.CharField(max_length=64)
    subscribe = serializers.BooleanField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A partial parent (PUT) makes DRF skip missing nested fields; an update needs both of them all the same.
        missing = {name: ["This field is required."] for name in self.fields if name not in attrs}
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class SubscriptionPreferenceInputSerializer(SubscriptionUpdateSerializer):
    """An item of `subscription_preferences` as GET answers it: `subscribed` for a type means what `subscribe` means
    in `subscription_updates`; the dates are the server's to keep."""

    echo_fields = frozenset({"subscribed_date", "unsubscribed_date"})
    subscribe = None
    subscribed = serializers.BooleanField()


class SubscriberInputSerializer(RecordInputSerializer):
    """Create: email and first_name are needed. Update (partial=True): what is sent changes, the rest stays.

    Takes back what GET answers: `subscription_preferences` as `subscription_updates` (the two merge; a type given in
    both with different values is an error), `version` as the conflict check of an update (ignored on create), and
    `id`, `created_at`, `updated_at` and `memberships` (read-only) ignored. `audiences` are the manual additions
    (`aud_default`, which holds everyone, is accepted and changes nothing) and `lists` the static lists, as GET
    answers them. The email's syntax and the custom fields' values are checked here, with the body's other fields, so
    that every problem of a body comes back in one answer."""

    echo_fields = RecordInputSerializer.echo_fields | {"memberships"}

    first_name = serializers.CharField(max_length=150, allow_blank=True, allow_null=True)
    last_name = serializers.CharField(max_length=150, allow_blank=True, allow_null=True, required=False)
    email = serializers.CharField(max_length=254)
    active = serializers.BooleanField(required=False)
    inactive_reason = serializers.CharField(max_length=500, allow_blank=True, allow_null=True, required=False)
    audiences = serializers.ListField(child=serializers.CharField(max_length=64), max_length=1000, required=False)
    lists = serializers.ListField(child=serializers.CharField(max_length=64), max_length=1000, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100, required=False)
    additional_fields_data = serializers.DictField(required=False, allow_null=True)
    subscription_updates = SubscriptionUpdateSerializer(many=True, required=False, max_length=100)
    subscription_preferences = SubscriptionPreferenceInputSerializer(many=True, required=False, max_length=100)
    version = serializers.IntegerField(min_value=1, required=False)

    def validate_email(self, value: str) -> str:
        problem = email_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_additional_fields_data(self, value: dict[str, Any] | None) -> dict[str, Any] | None:
        _, issues = validate_additional_fields(value or {}, apply_defaults=True, field_prefix="")
        errors: dict[str, list[str]] = {}
        for issue in issues:
            errors.setdefault(issue.field.lstrip(".") or "non_field_errors", []).append(issue.message)
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        preferences = attrs.pop("subscription_preferences", None)
        if preferences is None:
            return attrs
        updates = list(attrs.get("subscription_updates") or [])
        given = {update["subscription_type_id"]: update["subscribe"] for update in updates}
        errors = {}
        for index, item in enumerate(preferences):
            type_id, subscribed = item["subscription_type_id"], item["subscribed"]
            if given.get(type_id, subscribed) != subscribed:
                errors[f"subscription_preferences.{index}.subscribed"] = [
                    "Contradicts subscription_updates for the same subscription type"
                ]
            elif type_id not in given:
                given[type_id] = subscribed
                updates.append({"subscription_type_id": type_id, "subscribe": subscribed})
        if errors:
            raise serializers.ValidationError(errors)
        attrs["subscription_updates"] = updates
        return attrs


class SubscriberPageSerializer(serializers.ListSerializer):
    """Subscribers (`many=True`): reads the relations of all of them in one query, then represents each."""

    def to_representation(self, data: Iterable[Subscriber]) -> list[dict[str, Any]]:
        return super().to_representation(subscribers_with_relations(data))


AUDIENCE_HOW_HELP = (
    "Every way the subscriber is in it: `default` (aud_default, which holds everyone), `manual` (added by hand, "
    "by a write's `audiences`, or by an import), `rule` (matches its rules)."
)
LIST_HOW_HELP = (
    "Every way the subscriber is in it: `manual` (a static list's own member), `dynamic` (a member of the dynamic "
    "list's audience), `included` (a member of a list or audience the list includes, and of none it excludes)."
)


class AudienceMembershipItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    how = serializers.ListField(
        child=serializers.ChoiceField(["default", "manual", "rule"]), help_text=AUDIENCE_HOW_HELP
    )


class ListMembershipItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    how = serializers.ListField(
        child=serializers.ChoiceField(["manual", "dynamic", "included"]), help_text=LIST_HOW_HELP
    )
    suppression = serializers.BooleanField(help_text="A suppression list: its members are reachable through no list.")


class SubscriberMembershipsSerializer(serializers.Serializer):
    """Every audience and list the subscriber is in, rule audiences and dynamic lists included, each by name; the
    members pages of each agree (`audiences.selectors.subscriber_memberships`). Read-only: a write ignores it."""

    audiences = AudienceMembershipItemSerializer(many=True)
    lists = ListMembershipItemSerializer(many=True)


class SubscriberOutputSerializer(serializers.ModelSerializer):
    """The seed's subscriber shape. Reads the lists `subscribers.selectors.subscribers_with_relations` sets: one
    subscriber must have been through it; with `many=True` the serializer puts its rows through it."""

    id = serializers.CharField(source="public_id")
    created_at = TimestampField()
    updated_at = TimestampField(allow_null=True)
    inactive_reason = serializers.SerializerMethodField()
    audiences = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="`aud_default` (everyone is in it), then the audiences the subscriber was added to by hand, as a "
        "write's `audiences` sets them. Rule audiences are in `memberships`.",
    )
    lists = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The static lists the subscriber is a member of, as a write's `lists` sets them. Dynamic lists are "
        "in `memberships`.",
    )
    memberships = SubscriberMembershipsSerializer(read_only=True)
    tags = serializers.SerializerMethodField()
    subscription_preferences = serializers.SerializerMethodField()

    class Meta:
        model = Subscriber
        list_serializer_class = SubscriberPageSerializer
        fields = (
            "version", "created_at", "updated_at", "id", "first_name", "last_name", "email", "active",
            "inactive_reason", "audiences", "lists", "memberships", "tags", "subscription_preferences",
            "additional_fields_data",
        )  # fmt: skip

    def to_representation(self, subscriber: Subscriber) -> dict[str, Any]:
        # Field by field through DRF, a page of 100 cost more than its relations' query; the fields above describe
        # the same body for the schema, in Meta.fields' order (tests/subscribers/test_representation.py holds both).
        return {
            "version": subscriber.version,
            "created_at": format_timestamp(subscriber.created_at),
            "updated_at": format_timestamp(subscriber.updated_at),
            "id": subscriber.public_id,
            "first_name": subscriber.first_name,
            "last_name": subscriber.last_name,
            "email": subscriber.email,
            "active": subscriber.active,
            "inactive_reason": self.get_inactive_reason(subscriber),
            "audiences": [DEFAULT_AUDIENCE_ID, *subscriber.audience_public_ids],
            "lists": subscriber.list_public_ids,
            "memberships": subscriber.memberships,
            "tags": self.get_tags(subscriber),
            "subscription_preferences": self.get_subscription_preferences(subscriber),
            "additional_fields_data": subscriber.additional_fields_data,
        }

    def get_inactive_reason(self, subscriber: Subscriber) -> str | None:
        return subscriber.inactive_reason or None

    def get_tags(self, subscriber: Subscriber) -> list[str]:
        return subscriber.tag_public_ids

    def get_subscription_preferences(self, subscriber: Subscriber) -> list[dict[str, Any]]:
        return [
            {
                "subscription_type_id": item["subscription_type_id"],
                "subscribed": bool(item["subscribed"]),  # SQLite writes booleans into JSON as 0 and 1
                "subscribed_date": _stored_timestamp(item["subscribed_date"]),
                "unsubscribed_date": _stored_timestamp(item["unsubscribed_date"]),
            }
            for item in subscriber.preference_items
        ]


def _stored_timestamp(text: str | None) -> str | None:
    """A date as the database wrote it into JSON (ISO 8601; SQLite's without an offset, being UTC), as the API gives
    timestamps."""
    if text is None:
        return None
    value = dt.datetime.fromisoformat(text)
    return format_timestamp(value if value.tzinfo else value.replace(tzinfo=dt.UTC))


class SearchVarsSerializer(InputSerializer):
    listIds = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100, required=False)  # noqa: N815
    audienceIds = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100, required=False)  # noqa: N815
    activeSubscriptionTypeId = serializers.CharField(max_length=64, required=False, allow_null=True)  # noqa: N815


class SearchPayloadSerializer(InputSerializer):
    queryName = serializers.CharField(max_length=100)  # noqa: N815
    vars = SearchVarsSerializer(required=False, default=dict)


class SearchRequestSerializer(InputSerializer):
    payload = SearchPayloadSerializer()


class SearchResponseSerializer(serializers.Serializer):
    """One of the two keys, after the query asked: counts by the ids sent."""

    subscribersCountByListId = serializers.DictField(  # noqa: N815 - the seed's name
        child=serializers.IntegerField(), required=False, help_text="getSubscribersCountByListIds: list id to count"
    )
    subscribersCountByAudienceId = serializers.DictField(  # noqa: N815
        child=serializers.IntegerField(),
        required=False,
        help_text="getSubscribersCountByAudienceIds: audience id to count",
    )


SEARCH_EXAMPLES = [  # seed 001, "Search Subscribers"
    OpenApiExample(
        "getSubscribersCountByListIds",
        value={
            "payload": {
                "queryName": "getSubscribersCountByListIds",
                "vars": {"listIds": ["list_vip_members", "list_product_updates"],
                         "activeSubscriptionTypeId": "stype_promotional"},
            }
        },
        request_only=True,
    ),
    OpenApiExample(
        "getSubscribersCountByAudienceIds",
        value={
            "payload": {
                "queryName": "getSubscribersCountByAudienceIds",
                "vars": {"audienceIds": ["aud_retail_customers", "aud_newsletter"],
                         "activeSubscriptionTypeId": "stype_newsletter"},
            }
        },
        request_only=True,
    ),
    OpenApiExample(
        "Counts by list",
        value={"subscribersCountByListId": {"list_vip_members": 1250, "list_product_updates": 3480}},
        response_only=True,
    ),
    OpenApiExample(
        "Counts by audience",
        value={"subscribersCountByAudienceId": {"aud_retail_customers": 5670, "aud_newsletter": 8920}},
        response_only=True,
    ),
]  # fmt: skip


class BatchContactSerializer(InputSerializer):
    """One contact of a batch (for the schema): the service checks each contact on its own, its keys included, so
    that one bad contact does not fail the batch (subscribers.services.batch.CONTACT_FIELDS)."""

    email = serializers.JSONField()
    first_name = serializers.JSONField(required=False)
    last_name = serializers.JSONField(required=False)
    custom_fields = serializers.JSONField(required=False)


class BatchRequestSerializer(InputSerializer):
    update_subscribers = serializers.BooleanField(default=False)
    data = serializers.ListField(
        child=serializers.JSONField(), min_length=1, max_length=100, help_text="Contacts: see BatchContact."
    )
    list_id = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100, required=False)


class BatchResponseSerializer(serializers.Serializer):
    """Each contact as it was sent: the valid ones with their subscriber `id`, the invalid ones with a `reason`."""

    valid_contacts = serializers.ListField(child=serializers.DictField())
    invalid_contacts = serializers.ListField(child=serializers.DictField())
    total_valid = serializers.IntegerField()
    total_invalid = serializers.IntegerField()


class SubscriptionTypeInputSerializer(RecordInputSerializer):
    name = serializers.CharField(max_length=150)
    description = serializers.CharField(max_length=2000, allow_blank=True, allow_null=True, required=False)
    version = serializers.IntegerField(min_value=1, required=False)


class SubscriptionTypeOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    created_at = TimestampField()
    updated_at = TimestampField(allow_null=True)

    class Meta:
        model = SubscriptionType
        fields = ("id", "name", "description", "created_at", "updated_at", "version")


# Kasplo's name for a number field (seed 004: "string, boolean, numeric, date, dropdown"), taken on writes.
FIELD_TYPE_ALIASES = {"numeric": CustomField.FieldType.NUMBER}


class CustomFieldTypeField(serializers.ChoiceField):
    """A custom field's type: Roster's names, and Kasplo's `numeric` read as `number` (answered as `number`)."""

    def __init__(self, **kwargs: Any) -> None:
        aliases = [(alias, f"{alias} (read as {target})") for alias, target in FIELD_TYPE_ALIASES.items()]
        super().__init__(choices=[*CustomField.FieldType.choices, *aliases], **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        return str(FIELD_TYPE_ALIASES.get(value, value))


class CustomFieldInputSerializer(RecordInputSerializer):
    name = serializers.CharField(max_length=64)
    type = CustomFieldTypeField(
        help_text="string, number, boolean, date or dropdown; `numeric` (seed 004's name) is taken as `number`."
    )
    values = serializers.ListField(child=serializers.JSONField(), max_length=500, required=False)
    required = serializers.BooleanField(required=False, default=False)
    default = serializers.JSONField(required=False, allow_null=True)
    description = serializers.CharField(max_length=500, allow_blank=True, required=False)
    discovered = serializers.BooleanField(
        required=False,
        help_text="Update only: false defines a discovered field (its type is enforced from then on). "
        "Ignored on create: what is created is defined.",
    )
    version = serializers.IntegerField(min_value=1, required=False)


class CustomFieldOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    type = serializers.CharField(source="field_type")
    created_at = TimestampField()
    updated_at = TimestampField(allow_null=True)

    class Meta:
        model = CustomField
        fields = (
            "id",
            "name",
            "type",
            "values",
            "required",
            "default",
            "description",
            "discovered",
            "created_at",
            "updated_at",
            "version",
        )


class TagInputSerializer(RecordInputSerializer):
    name = serializers.CharField(max_length=100)
    status = serializers.ChoiceField(choices=Tag.Status.choices, required=False)
    version = serializers.IntegerField(min_value=1, required=False)


class TagOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    created_at = TimestampField()
    updated_at = TimestampField(allow_null=True)

    class Meta:
        model = Tag
        fields = ("id", "name", "status", "created_at", "updated_at", "version")
