from typing import Any

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from audiences.selectors import audience_members, list_members, reachable
from audiences.services import resolve_audiences, resolve_lists
from core.api.pagination import PageRequest, PageRequestSerializer
from core.api.schema import IdResponseSerializer, page_of
from core.api.views import ApiView, PagedListView, expected_version, get_by_public_id, scopes_for, with_etag
from core.conditions import FieldRegistry, filters_name
from core.conditions.fields import BooleanKind, DateTimeKind, NumberKind, PublicIdKind, StringKind
from core.errors import ApplicationError, InvalidPreference, Issue, NotFound
from subscribers import selectors, services
from subscribers.api import serializers as s
from subscribers.filters import SUBSCRIBER_SORT_FIELDS, subscriber_registry
from subscribers.models import SubscriptionType, Tag


class SubscriberApiView(ApiView):
    scope_map = scopes_for("subscribers")
    validation_error_code = "INVALID_SUBSCRIBER"
    validation_error_message = "Invalid subscriber data"
    not_found_code = "SUBSCRIBER_NOT_FOUND"
    not_found_message = "Subscriber not found"


def _subscriber_changes(data: dict[str, Any]) -> dict[str, Any]:
    changes = {name: data[name] for name in s.SubscriberInputSerializer().fields if name in data and name != "version"}
    if "additional_fields_data" in changes and changes["additional_fields_data"] is None:
        changes["additional_fields_data"] = {}
    return changes


class SubscriberCollectionView(SubscriberApiView):
    @extend_schema(
        request=s.SubscriberInputSerializer, responses=IdResponseSerializer, operation_id="subscriber_create"
    )
    def post(self, request: Request) -> Response:
        """Create a subscriber.

        `email` and `first_name` are required; `audiences` (manual additions; `aud_default`, which holds everyone, is
        accepted and changes nothing), `lists` (static lists) and `tags` take ids, `subscription_updates`
        records consent per subscription type, and `additional_fields_data` holds custom field values. A second
        subscriber with the same email (in any case) answers 409 `DUPLICATE_EMAIL`."""
        data = self.parse(s.SubscriberInputSerializer)
        subscriber = services.subscriber_create(**_subscriber_changes(data))
        return Response({"id": subscriber.public_id})


class SubscriberListView(PagedListView, SubscriberApiView):
    scope_map = scopes_for("subscribers", read=("POST",), write=())
    search_fields = ("email", "first_name", "last_name")
    sort_fields = SUBSCRIBER_SORT_FIELDS
    output_serializer = s.SubscriberOutputSerializer
    validation_error_code = "VALIDATION_ERROR"
    validation_error_message = "Invalid list request"

    def get_queryset(self):
        return selectors.subscriber_list()

    def get_registry(self) -> FieldRegistry:
        return subscriber_registry()

    @extend_schema(request=PageRequestSerializer, responses=page_of(s.SubscriberOutputSerializer))
    def post(self, request: Request) -> Response:
        """Page through subscribers.

        `search` looks for every word in email, first and last name; `filters` take the subscriber's columns,
        `additional_fields_data.<key>`, `audiences`, `lists` and `tags`; `sort` is a field name, `-` in front for
        descending."""
        return super().post(request)


class SubscriberDetailView(SubscriberApiView):
    @extend_schema(responses=s.SubscriberOutputSerializer)
    def get(self, request: Request, subscriber_id: str) -> Response:
        """One subscriber, with their audiences, lists, tags and subscription preferences.

        `audiences` (`aud_default` first, then the manual additions) and `lists` (static lists) are what a write sets;
        `memberships` is every audience and list the subscriber is in, rule audiences and dynamic lists included, each
        with how (`default`, `manual`, `rule`; `manual`, `dynamic`, `included`). The ETag header carries the version,
        for If-Match on a later update."""
        [subscriber] = selectors.subscribers_with_relations([selectors.subscriber_get(subscriber_id)])
        return with_etag(Response(s.SubscriberOutputSerializer(subscriber).data), subscriber.version)

    @extend_schema(request=s.SubscriberInputSerializer, responses=IdResponseSerializer)
    def put(self, request: Request, subscriber_id: str) -> Response:
        """Update a subscriber: the fields sent change, the others stay.

        Send the `version` read (or If-Match) to be told of a concurrent change (409 `VERSION_CONFLICT`)."""
        subscriber = selectors.subscriber_get(subscriber_id)
        data = self.parse(s.SubscriberInputSerializer, partial=True)
        subscriber = services.subscriber_update(
            subscriber=subscriber, expected_version=expected_version(request, data), **_subscriber_changes(data)
        )
        return with_etag(Response({"id": subscriber.public_id}), subscriber.version)

    @extend_schema(responses=IdResponseSerializer)
    def delete(self, request: Request, subscriber_id: str) -> Response:
        """Delete a subscriber and their memberships."""
        subscriber = selectors.subscriber_get(subscriber_id)
        services.subscriber_delete(subscriber=subscriber)
        return Response({"id": subscriber_id})


class SubscriberSearchView(SubscriberApiView):
    """Named counting queries over membership, counting reachable subscribers only."""

    scope_map = scopes_for("subscribers", read=("POST",), write=())
    validation_error_code = "VALIDATION_ERROR"
    validation_error_message = "Invalid search request"

    @extend_schema(request=s.SearchRequestSerializer, responses=s.SearchResponseSerializer, examples=s.SEARCH_EXAMPLES)
    def post(self, request: Request) -> Response:
        """Count the reachable subscribers of lists or audiences (the seed's named queries).

        `payload.queryName` is `getSubscribersCountByListIds` (with `payload.vars.listIds`) or
        `getSubscribersCountByAudienceIds` (with `payload.vars.audienceIds`); `activeSubscriptionTypeId` counts only
        subscribers who consented to that subscription type. Reachable means active and not suppressed."""
        payload = self.parse(s.SearchRequestSerializer)["payload"]
        variables = payload["vars"]
        type_pk = None
        if variables.get("activeSubscriptionTypeId"):
            type_pk = (
                SubscriptionType.objects.filter(public_id=variables["activeSubscriptionTypeId"])
                .values_list("pk", flat=True)
                .first()
            )
            if type_pk is None:
                raise InvalidPreference.on("payload.vars.activeSubscriptionTypeId", "Unknown subscription type")
        query = payload["queryName"]
        if query == "getSubscribersCountByListIds":
            lists = resolve_lists(self._ids(variables, "listIds"), field="payload.vars.listIds")
            by_id = {lst.public_id: lst for lst in lists}
            counts = {
                public_id: reachable(list_members(by_id[public_id]), subscription_type_pk=type_pk).count()
                for public_id in self._ids(variables, "listIds")
            }
            return Response({"subscribersCountByListId": counts})
        if query == "getSubscribersCountByAudienceIds":
            audiences = resolve_audiences(self._ids(variables, "audienceIds"), field="payload.vars.audienceIds")
            by_id = {a.public_id: a for a in audiences}
            counts = {
                public_id: reachable(audience_members(by_id[public_id]), subscription_type_pk=type_pk).count()
                for public_id in self._ids(variables, "audienceIds")
            }
            return Response({"subscribersCountByAudienceId": counts})
        raise ApplicationError(
            "Unknown query",
            issues=[
                Issue(
                    "payload.queryName",
                    "Use getSubscribersCountByListIds or getSubscribersCountByAudienceIds",
                )
            ],
        )

    @staticmethod
    def _ids(variables: dict[str, Any], name: str) -> list[str]:
        ids = variables.get(name)
        if not ids:
            raise ApplicationError(issues=[Issue(f"payload.vars.{name}", "At least one id is required")])
        return list(dict.fromkeys(ids))


class SubscriberBatchView(SubscriberApiView):
    @extend_schema(request=s.BatchRequestSerializer, responses=s.BatchResponseSerializer)
    def post(self, request: Request) -> Response:
        """Create up to 100 subscribers at once, each valid or invalid on its own.

        Every contact (`email`, `first_name`, `last_name`, `custom_fields`) is answered in `valid_contacts` with its
        new id, or in `invalid_contacts` with its `reason`. With `update_subscribers`, existing emails are updated
        instead of refused; `list_id` and `tags` apply to every valid contact."""
        data = self.parse(s.BatchRequestSerializer)
        result = services.subscribers_batch_create(
            contacts=data["data"],
            update_subscribers=data["update_subscribers"],
            list_id=data.get("list_id") or None,
            tags=data.get("tags"),
        )
        return Response(result)


# Subscription types, custom fields and tags: the same create / list / get / update / delete shape.


class SubscriptionTypeApiView(ApiView):
    scope_map = scopes_for("settings")
    validation_error_message = "Invalid subscription type"
    not_found_message = "Subscription type not found"

    def get_object(self, public_id: str):
        return get_by_public_id(selectors.subscription_type_list(), public_id, NotFound(self.not_found_message))


class SubscriptionTypeCollectionView(SubscriptionTypeApiView):
    @extend_schema(request=s.SubscriptionTypeInputSerializer, responses=IdResponseSerializer)
    def post(self, request: Request) -> Response:
        """Create a subscription type, a kind of email subscribers consent to (`name`, `description`)."""
        data = self.parse(s.SubscriptionTypeInputSerializer)
        created = services.subscription_type_create(name=data["name"], description=data.get("description") or "")
        return Response({"id": created.public_id})


class SubscriptionTypeListView(PagedListView, SubscriptionTypeApiView):
    scope_map = scopes_for("settings", read=("POST",), write=())
    search_fields = ("name", "description")
    default_sort = "name"
    output_serializer = s.SubscriptionTypeOutputSerializer

    def get_queryset(self):
        return selectors.subscription_type_list()

    def get_registry(self) -> FieldRegistry:
        return FieldRegistry(
            {
                "id": PublicIdKind("public_id"),
                "name": StringKind("name"),
                "description": StringKind("description"),
                "created_at": DateTimeKind("created_at"),
                "updated_at": DateTimeKind("updated_at", nullable=True),
            }
        )

    @extend_schema(request=PageRequestSerializer, responses=page_of(s.SubscriptionTypeOutputSerializer))
    def post(self, request: Request) -> Response:
        """Page through subscription types (`search` in name and description; sorted by name by default)."""
        return super().post(request)


class SubscriptionTypeDetailView(SubscriptionTypeApiView):
    @extend_schema(responses=s.SubscriptionTypeOutputSerializer)
    def get(self, request: Request, type_id: str) -> Response:
        """One subscription type."""
        instance = self.get_object(type_id)
        return with_etag(Response(s.SubscriptionTypeOutputSerializer(instance).data), instance.version)

    @extend_schema(request=s.SubscriptionTypeInputSerializer, responses=IdResponseSerializer)
    def put(self, request: Request, type_id: str) -> Response:
        """Update a subscription type's name or description (with `version` or If-Match to detect conflicts)."""
        instance = self.get_object(type_id)
        data = self.parse(s.SubscriptionTypeInputSerializer, partial=True)
        changes = {name: data[name] for name in ("name", "description") if name in data}
        instance = services.subscription_type_update(
            subscription_type=instance, expected_version=expected_version(request, data), **changes
        )
        return with_etag(Response({"id": instance.public_id}), instance.version)

    @extend_schema(responses=IdResponseSerializer)
    def delete(self, request: Request, type_id: str) -> Response:
        """Delete a subscription type."""
        services.subscription_type_delete(subscription_type=self.get_object(type_id))
        return Response({"id": type_id})


class CustomFieldApiView(ApiView):
    scope_map = scopes_for("settings")
    validation_error_message = "Invalid custom field"
    not_found_message = "Custom field not found"

    def get_object(self, public_id: str):
        return get_by_public_id(selectors.custom_field_list(), public_id, NotFound(self.not_found_message))


class CustomFieldCollectionView(CustomFieldApiView):
    @extend_schema(request=s.CustomFieldInputSerializer, responses=IdResponseSerializer)
    def post(self, request: Request) -> Response:
        """Define a custom field (string, number, boolean, date or dropdown with `values`).

        `type` also takes seed 004's `numeric`, stored and answered as `number` (on update too).

        Its values live in subscribers' `additional_fields_data.<name>`, typed for filters and audience rules."""
        data = self.parse(s.CustomFieldInputSerializer)
        created = services.custom_field_create(
            name=data["name"],
            field_type=data["type"],
            values=data.get("values") or [],
            required=data["required"],
            default=data.get("default"),
            description=data.get("description") or "",
        )
        return Response({"id": created.public_id})


class CustomFieldListView(PagedListView, CustomFieldApiView):
    scope_map = scopes_for("settings", read=("POST",), write=())
    default_sort = "name"
    output_serializer = s.CustomFieldOutputSerializer

    def get_queryset(self):
        return selectors.custom_field_list()

    def get_registry(self) -> FieldRegistry:
        return FieldRegistry(
            {
                "id": PublicIdKind("public_id"),
                "name": StringKind("name"),
                "type": StringKind("field_type"),
                "required": BooleanKind("required"),
                "discovered": BooleanKind("discovered"),
                "created_at": DateTimeKind("created_at"),
                "updated_at": DateTimeKind("updated_at", nullable=True),
            }
        )

    @extend_schema(request=PageRequestSerializer, responses=page_of(s.CustomFieldOutputSerializer))
    def post(self, request: Request) -> Response:
        """Page through custom fields (sorted by name by default)."""
        return super().post(request)


class CustomFieldDetailView(CustomFieldApiView):
    @extend_schema(responses=s.CustomFieldOutputSerializer)
    def get(self, request: Request, field_id: str) -> Response:
        """One custom field."""
        instance = self.get_object(field_id)
        return with_etag(Response(s.CustomFieldOutputSerializer(instance).data), instance.version)

    @extend_schema(request=s.CustomFieldInputSerializer, responses=IdResponseSerializer)
    def put(self, request: Request, field_id: str) -> Response:
        """Update a custom field's values, required flag, default or description."""
        instance = self.get_object(field_id)
        data = self.parse(s.CustomFieldInputSerializer, partial=True)
        changes = {
            name: data[name]
            for name in ("name", "values", "required", "default", "description", "discovered")
            if name in data
        }
        if "type" in data:
            changes["field_type"] = data["type"]
        instance = services.custom_field_update(
            custom_field=instance, expected_version=expected_version(request, data), **changes
        )
        return with_etag(Response({"id": instance.public_id}), instance.version)

    @extend_schema(responses=IdResponseSerializer)
    def delete(self, request: Request, field_id: str) -> Response:
        """Delete a custom field definition."""
        services.custom_field_delete(custom_field=self.get_object(field_id))
        return Response({"id": field_id})


class TagApiView(ApiView):
    scope_map = scopes_for("settings")
    validation_error_message = "Invalid tag"
    not_found_message = "Tag not found"

    def get_object(self, public_id: str):
        return get_by_public_id(selectors.tag_list(), public_id, NotFound(self.not_found_message))


class TagCollectionView(TagApiView):
    @extend_schema(request=s.TagInputSerializer, responses=IdResponseSerializer)
    def post(self, request: Request) -> Response:
        """Create a tag (`name`, `status` 1 active or 2 inactive)."""
        data = self.parse(s.TagInputSerializer)
        created = services.tag_create(name=data["name"], **({"status": data["status"]} if "status" in data else {}))
        return Response({"id": created.public_id})


class TagListView(PagedListView, TagApiView):
    scope_map = scopes_for("settings", read=("POST",), write=())
    default_sort = "name"
    output_serializer = s.TagOutputSerializer

    def get_queryset(self):
        return selectors.tag_list()

    def default_filter(self, page: PageRequest) -> Q:
        # Seed 004: "By default, the active tags will be fetched"; a `status` condition anywhere asks for others.
        return Q() if filters_name(page.filters, "status") else Q(status=Tag.Status.ACTIVE)

    def get_registry(self) -> FieldRegistry:
        return FieldRegistry(
            {
                "id": PublicIdKind("public_id"),
                "name": StringKind("name"),
                "status": NumberKind("status"),
                "created_at": DateTimeKind("created_at"),
                "updated_at": DateTimeKind("updated_at", nullable=True),
            }
        )

    @extend_schema(request=PageRequestSerializer, responses=page_of(s.TagOutputSerializer))
    def post(self, request: Request) -> Response:
        """Page through tags (sorted by name by default).

        Active tags only (`status` 1) unless `filters` has a condition on `status`: `{"status": {"operation": "eq",
        "value": 2}}` answers the inactive ones, `{"status": {"operation": "in", "value": [1, 2]}}` all of them."""
        return super().post(request)


class TagDetailView(TagApiView):
    @extend_schema(responses=s.TagOutputSerializer)
    def get(self, request: Request, tag_id: str) -> Response:
        """One tag."""
        instance = self.get_object(tag_id)
        return with_etag(Response(s.TagOutputSerializer(instance).data), instance.version)

    @extend_schema(request=s.TagInputSerializer, responses=IdResponseSerializer)
    def put(self, request: Request, tag_id: str) -> Response:
        """Rename a tag or change its status."""
        instance = self.get_object(tag_id)
        data = self.parse(s.TagInputSerializer, partial=True)
        changes = {name: data[name] for name in ("name", "status") if name in data}
        instance = services.tag_update(tag=instance, expected_version=expected_version(request, data), **changes)
        return with_etag(Response({"id": instance.public_id}), instance.version)

    @extend_schema(responses=IdResponseSerializer)
    def delete(self, request: Request, tag_id: str) -> Response:
        """Delete a tag; subscribers lose it."""
        services.tag_delete(tag=self.get_object(tag_id))
        return Response({"id": tag_id})
