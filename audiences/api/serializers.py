from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audiences.models import Audience, ListChange, MarketingList
from audiences.selectors import list_member_counts
from core.api.fields import TimestampField
from core.api.pagination import MAX_PAGE_SIZE
from core.api.serializers import InputSerializer, RecordInputSerializer


class AudienceInputSerializer(RecordInputSerializer):
    name = serializers.CharField(max_length=200)
    rules = serializers.JSONField(required=False, allow_null=True)
    version = serializers.IntegerField(min_value=1, required=False)


STATUS_HELP = (
    "Membership state: `pending` (rules changed, waiting for a worker), `materializing`, `ready`, or `failed` (its "
    "rules could not be evaluated, see `failure_reason`; it is skipped until its rules are saved again)."
)


class FailureReasonField(serializers.CharField):
    """Why the audience is `failed`; null otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("help_text", "Why the audience is `failed` (null unless it is).")
        super().__init__(**kwargs)

    def to_representation(self, value: str) -> str | None:
        return value or None


class AudienceOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    created_at = TimestampField()
    updated_at = TimestampField(allow_null=True)

    class Meta:
        model = Audience
        fields = ("id", "name", "created_at", "updated_at", "version")


class MembershipInputSerializer(InputSerializer):
    subscriber_id = serializers.CharField(max_length=64)


def is_echoed_job(entry: Any) -> bool:
    """A `jobs` entry as GET answers it (with an `id`): a job already started, which a write leaves alone."""
    return isinstance(entry, dict) and "id" in entry


class ListInputSerializer(RecordInputSerializer):
    # `archived` is read here and set by POST /api/lists/{id}/archive; `size` and `created_by` are Roster's to say.
    echo_fields = RecordInputSerializer.echo_fields | {"audience_name", "archived", "size", "created_by"}

    name = serializers.CharField(max_length=200)
    mode = serializers.ChoiceField(choices=MarketingList.Mode.choices)
    audience_id = serializers.CharField(max_length=64)
    jobs = serializers.ListField(
        child=serializers.JSONField(),
        max_length=100,
        required=False,
        help_text="Imports to start into the list, each {file_url, import_type, columns_mapping?}; they run in turn. "
        "A new job needs the imports:write scope as well as lists:write. Jobs as GET answers them (with an `id`) "
        "are the list's history, and are ignored.",
    )
    version = serializers.IntegerField(min_value=1, required=False)

    def validate_jobs(self, value: list) -> list:
        """Each new entry {file_url, import_type, columns_mapping?} starts an import into the list (they run in
        turn); an entry with an `id` is a job as GET answers it, already started: checked, then left out."""
        from imports.api.serializers import JobEchoSerializer, ListJobSerializer

        errors: list[dict] = []
        jobs: list[dict] = []
        for entry in value:
            echoed = is_echoed_job(entry)
            job = (JobEchoSerializer if echoed else ListJobSerializer)(data=entry)
            errors.append({} if job.is_valid() else job.errors)
            if not echoed and not errors[-1]:
                jobs.append(job.validated_data)
        if any(errors):
            raise serializers.ValidationError(errors)
        return jobs


class ListsOutputSerializer(serializers.ListSerializer):
    """A page of lists: every list's `size` counted in one query before the rows are written out."""

    member_counts: dict[int, int] | None = None

    def to_representation(self, data: Any) -> list:
        rows = list(data.all() if hasattr(data, "all") else data)
        self.member_counts = list_member_counts(rows)
        return super().to_representation(rows)


class ListOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    audience_id = serializers.CharField(source="audience.public_id")
    audience_name = serializers.CharField(source="audience.name")
    created_at = TimestampField()
    updated_at = TimestampField(allow_null=True)
    archived = serializers.BooleanField(
        help_text="An archived list keeps its members and takes no additions or imports (POST /api/lists/{id}/archive)."
    )
    size = serializers.SerializerMethodField(
        help_text="How many members the list has now (as GET /api/lists/{id}/members counts them)."
    )
    created_by = serializers.SerializerMethodField(
        help_text="Who created the list: the API key's name, the staff user's username, or `system`; null for lists "
        "created before Roster recorded it."
    )

    class Meta:
        model = MarketingList
        fields = (
            "id",
            "name",
            "mode",
            "audience_id",
            "audience_name",
            "created_at",
            "updated_at",
            "version",
            "archived",
            "size",
            "created_by",
        )
        list_serializer_class = ListsOutputSerializer

    def get_size(self, marketing_list: MarketingList) -> int:
        counts = getattr(self.parent, "member_counts", None)
        if counts is None or marketing_list.pk not in counts:
            counts = list_member_counts([marketing_list])
        return counts[marketing_list.pk]

    def get_created_by(self, marketing_list: MarketingList) -> str | None:
        return marketing_list.created_by or None


class ListDetailSerializer(ListOutputSerializer):
    jobs = serializers.SerializerMethodField()

    class Meta(ListOutputSerializer.Meta):
        fields = (
            "id",
            "name",
            "mode",
            "audience_id",
            "created_at",
            "updated_at",
            "version",
            "archived",
            "size",
            "created_by",
            "jobs",
        )

    # The Job component is imports.api.serializers.JobSerializer's (imports sits below audiences: named, not imported).
    @extend_schema_field(
        {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Job"},
            "description": "The list's last 50 import jobs, newest first (GET /api/lists/{id}/jobs pages through all)",
        }
    )
    def get_jobs(self, marketing_list: MarketingList) -> list:
        """The list's import jobs in the seed's job shape, newest first (the last 50; all of them page through
        GET /api/lists/{id}/jobs)."""
        from imports.api.serializers import job_representation
        from imports.selectors import import_jobs_of

        return [job_representation(job) for job in import_jobs_of(marketing_list=marketing_list)[:50]]


class ListChangeSerializer(serializers.ModelSerializer):
    """One entry of a list's history."""

    kind = serializers.ChoiceField(
        choices=ListChange.Kind.choices,
        help_text="`audience_deleted_moved_to_default` (a static list whose audience was deleted, now on aud_default), "
        "`audience_deleted_made_static` (a dynamic list whose audience was deleted, now static with the members it "
        "had), `switched_to_dynamic`, `switched_to_static`.",
    )
    created_at = TimestampField()
    actor_type = serializers.ChoiceField(
        choices=ListChange.ActorType.choices, help_text="Who made the change: `api_key`, `staff` or `system`."
    )
    actor_name = serializers.CharField(help_text="The API key's name, the staff user's username, or `system`.")
    details = serializers.JSONField(
        help_text="What changed, by kind: the deleted audience's `audience_id` and `audience_name`, `members`, "
        "`static_members_added`, `static_members_removed`, `members_before`, `members_after`, "
        "`previous_audience_id`."
    )

    class Meta:
        model = ListChange
        fields = ("kind", "created_at", "actor_type", "actor_name", "details")


class HistoryPageSerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, default=1)
    limit = serializers.IntegerField(min_value=1, default=20)

    def validate_limit(self, value: int) -> int:
        return min(value, MAX_PAGE_SIZE)


class AudienceRulesSerializer(InputSerializer):
    """The rules of an audience: a group, checked in full by the condition compiler."""

    id = serializers.CharField(read_only=True)
    rules = serializers.JSONField(allow_null=True)
    version = serializers.IntegerField(min_value=1, required=False, write_only=True)


class AudienceStatusSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=Audience.Status.choices, help_text=STATUS_HELP)
    materialized_at = serializers.CharField(allow_null=True)
    has_rules = serializers.BooleanField()
    failure_reason = FailureReasonField()


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
    status = serializers.ChoiceField(choices=Audience.Status.choices, help_text=STATUS_HELP)


class ListCompositionSerializer(InputSerializer):
    """How a list is composed: a suppression flag, and other lists and audiences it includes or excludes. `archived`
    is the list's archive flag (as POST /api/lists/{id}/archive sets it)."""

    id = serializers.CharField(read_only=True)
    is_suppression = serializers.BooleanField(required=False)
    archived = serializers.BooleanField(required=False)
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
