from rest_framework import serializers

from audiences.models import Audience, MarketingList
from core.api.fields import TimestampField


class AudienceInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    rules = serializers.JSONField(required=False, allow_null=True)
    version = serializers.IntegerField(min_value=1, required=False)


class AudienceOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    created_at = TimestampField()
    updated_at = TimestampField(allow_null=True)

    class Meta:
        model = Audience
        fields = ("id", "name", "created_at", "updated_at", "version")


class MembershipInputSerializer(serializers.Serializer):
    subscriber_id = serializers.CharField(max_length=64)


class ListInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    mode = serializers.ChoiceField(choices=MarketingList.Mode.choices)
    audience_id = serializers.CharField(max_length=64)
    jobs = serializers.ListField(child=serializers.DictField(), max_length=100, required=False)
    version = serializers.IntegerField(min_value=1, required=False)

    def validate_jobs(self, value: list) -> list:
        """Each entry {file_url, import_type, columns_mapping?} starts an import into the list (they run in turn)."""
        from imports.api.serializers import ListJobSerializer

        jobs = ListJobSerializer(data=value, many=True)
        if not jobs.is_valid():
            raise serializers.ValidationError(
                [
                    f"jobs.{index}.{name}: {message}"
                    for index, errors in enumerate(jobs.errors)
                    for name, messages in errors.items()
                    for message in messages
                ]
            )
        return jobs.validated_data


class ListOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    audience_id = serializers.CharField(source="audience.public_id")
    audience_name = serializers.CharField(source="audience.name")
    created_at = TimestampField()
    updated_at = TimestampField(allow_null=True)

    class Meta:
        model = MarketingList
        fields = ("id", "name", "mode", "audience_id", "audience_name", "created_at", "updated_at", "version")


class ListDetailSerializer(ListOutputSerializer):
    jobs = serializers.SerializerMethodField()

    class Meta(ListOutputSerializer.Meta):
        fields = ("id", "name", "mode", "audience_id", "created_at", "updated_at", "version", "jobs")

    def get_jobs(self, marketing_list: MarketingList) -> list:
        """The list's import jobs in the seed's job shape, newest first (the last 50; all of them page through
        GET /api/lists/{id}/jobs)."""
        from imports.api.serializers import job_representation
        from imports.selectors import import_jobs_of

        return [job_representation(job) for job in import_jobs_of(marketing_list=marketing_list)[:50]]


class AudienceRulesSerializer(serializers.Serializer):
    """The rules of an audience: a group, checked in full by the condition compiler."""

    rules = serializers.JSONField(allow_null=True)


class AudienceStatusSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    materialized_at = serializers.CharField(allow_null=True)
    has_rules = serializers.BooleanField()


class MembershipExplanationSerializer(serializers.Serializer):
    """`GET /api/audiences/{id}/members/{subscriber_id}/explain`."""

    audience_id = serializers.CharField()
    subscriber_id = serializers.CharField()
    stored_member = serializers.BooleanField(
        help_text="Whether counts and member pages include the subscriber now (catches up with `member` once a "
        "pending materialization has run)."
    )
    member = serializers.BooleanField(help_text="Whether the subscriber belongs: added by hand or matching the rules.")
    manual = serializers.BooleanField(help_text="Added by hand.")
    matches_rules = serializers.BooleanField(allow_null=True, help_text="Null when the audience has no rules.")
    rules = serializers.JSONField(
        allow_null=True,
        help_text="The rule tree, each group and condition with its `path` and whether it is `met`; null without "
        "rules.",
    )
    reason = serializers.CharField()


class AudienceCountSerializer(serializers.Serializer):
    id = serializers.CharField()
    count = serializers.IntegerField()
    reachable = serializers.IntegerField()
    status = serializers.CharField()


class ListCompositionSerializer(serializers.Serializer):
    """How a list is composed: a suppression flag, and other lists and audiences it includes or excludes."""

    is_suppression = serializers.BooleanField(required=False)
    include_lists = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50, required=False)
    include_audiences = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50, required=False)
    exclude_lists = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50, required=False)
    exclude_audiences = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50, required=False)
    version = serializers.IntegerField(min_value=1, required=False)


def list_composition(marketing_list: MarketingList) -> dict:
    return {
        "id": marketing_list.public_id,
        "is_suppression": marketing_list.is_suppression,
        "archived": marketing_list.archived,
        "include_lists": [lst.public_id for lst in marketing_list.include_lists.all()],
        "include_audiences": [a.public_id for a in marketing_list.include_audiences.all()],
        "exclude_lists": [lst.public_id for lst in marketing_list.exclude_lists.all()],
        "exclude_audiences": [a.public_id for a in marketing_list.exclude_audiences.all()],
        "version": marketing_list.version,
    }
