import math

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audiences.api.serializers import STATUS_HELP, FailureReasonField
from audiences.groups import MAX_TIERS, Tier, TierSpec, plain_number
from audiences.models import Audience, AudienceGroup
from core.api.fields import TimestampField
from core.api.pagination import CursorPageSerializer
from core.api.serializers import InputSerializer, RecordInputSerializer
from core.conditions.values import MAX_NUMBER


@extend_schema_field(OpenApiTypes.NUMBER)
class NumberField(serializers.Field):
    """A finite JSON number (not a string, not a boolean); stored as a float, answered as written (1000, not 1000.0)."""

    default_error_messages = {"invalid": "Expected a number."}

    def to_internal_value(self, data: object) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if abs(data) > MAX_NUMBER or not math.isfinite(data):
            self.fail("invalid")
        return float(data)

    def to_representation(self, value: float) -> float | int | None:
        return plain_number(value)


class TierInputSerializer(InputSerializer):
    echo_fields = frozenset(
        {"count", "status", "materialized_at", "failure_reason"}
    )  # a group's audiences as GET answers them
    id = serializers.CharField(max_length=64, required=False, help_text="On update: the tier audience this tier is.")
    name = serializers.CharField(max_length=200)
    min = NumberField(help_text="The tier covers values >= min.")
    max = NumberField(
        required=False,
        allow_null=True,
        help_text="The tier covers values < max; left out: up to the next higher min (the top tier is open-ended).",
    )
    priority = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text="Where tiers overlap the higher priority wins; left out: the tier's position (1, 2, ...).",
    )

    def validate(self, data: dict) -> dict:
        if data.get("max") is not None and not data["max"] > data["min"]:
            raise serializers.ValidationError({"max": ["max must be greater than min"]})
        return data


class TierCreateSerializer(TierInputSerializer):
    """A tier of a new group: an `id` (a tier of the group a body was read from) is ignored."""

    echo_fields = TierInputSerializer.echo_fields | {"id"}
    id = None


def tier_specs(rows: list[dict]) -> list[TierSpec]:
    return [
        TierSpec(
            name=row["name"],
            min=row["min"],
            max=row.get("max"),
            priority=row.get("priority"),
            audience_id=row.get("id"),
        )
        for row in rows
    ]


class LoyaltyTiersInputSerializer(RecordInputSerializer):
    """Takes back a group as GET /api/audiences/groups/{id} answers it: its `audiences` are the tiers."""

    echo_fields = RecordInputSerializer.echo_fields | {"kind"}
    aliases = {"audiences": "tiers"}

    name = serializers.CharField(max_length=200)
    value_field = serializers.CharField(
        max_length=200,
        help_text="A number field of the condition language: additional_fields_data.<key> of a number custom field, "
        "or an engagement count or amount such as engagement.purchase_amount.",
    )
    tiers = TierCreateSerializer(many=True, min_length=1, max_length=MAX_TIERS)


class LoyaltyTiersUpdateSerializer(LoyaltyTiersInputSerializer):
    """The group's tiers as they should be: tiers matching one of its audiences (by `id`, else by name) update it,
    the others are created, and its audiences not named are deleted. `name` and `value_field` stay when left out."""

    name = serializers.CharField(max_length=200, required=False)
    value_field = serializers.CharField(max_length=200, required=False)
    tiers = TierInputSerializer(many=True, min_length=1, max_length=MAX_TIERS)
    version = serializers.IntegerField(min_value=1, required=False)


class TierOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="audience.public_id")
    name = serializers.CharField()
    min = NumberField()
    max = NumberField(allow_null=True)
    priority = serializers.IntegerField()


class LoyaltyTiersResponseSerializer(serializers.Serializer):
    id = serializers.CharField()
    audiences = TierOutputSerializer(many=True)

    @staticmethod
    def answer(group: AudienceGroup, tiers: list[Tier]) -> dict:
        return {"id": group.public_id, "audiences": TierOutputSerializer(tiers, many=True).data}


class GroupAudienceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    min = NumberField(source="tier_min", allow_null=True)
    max = NumberField(source="tier_max", allow_null=True)
    count = serializers.IntegerField(source="member_count", help_text="Members, manual additions included.")
    status = serializers.ChoiceField(choices=Audience.Status.choices, read_only=True, help_text=STATUS_HELP)
    materialized_at = TimestampField(allow_null=True)
    failure_reason = FailureReasonField()

    class Meta:
        model = Audience
        fields = ("id", "name", "min", "max", "priority", "count", "status", "materialized_at", "failure_reason")


class AudienceGroupSerializer(serializers.ModelSerializer):
    """A group with its audiences, read from `audience_group_get(..., with_audiences=True)`."""

    id = serializers.CharField(source="public_id")
    created_at = TimestampField()
    updated_at = TimestampField(allow_null=True)
    audiences = GroupAudienceSerializer(source="counted_audiences", many=True)

    class Meta:
        model = AudienceGroup
        fields = ("id", "name", "kind", "value_field", "created_at", "updated_at", "version", "audiences")


class GroupMembersQuerySerializer(CursorPageSerializer):
    audienceId = serializers.CharField(  # noqa: N815 - the seed's query parameter
        required=False, max_length=64, help_text="Only members of this audience of the group."
    )
