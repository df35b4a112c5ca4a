from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from audiences import selectors, services
from audiences.api import serializers as s
from audiences.explain import explain_membership
from audiences.models import Audience, MarketingList
from audiences.selectors import audience_status
from core.actors import actor_of
from core.api.pagination import (
    CursorPage,
    CursorPageSerializer,
    PageRequest,
    PageRequestSerializer,
    cursor_page_envelope,
    page_envelope,
    parse_cursor_page,
    words_search_q,
)
from core.api.schema import (
    AudienceMembershipResponseSerializer,
    IdResponseSerializer,
    ListMembershipResponseSerializer,
    cursor_page_of,
    page_of,
)
from core.api.views import ApiView, PagedListView, expected_version, get_by_public_id, scopes_for, with_etag
from core.conditions import FieldRegistry
from core.conditions.fields import BooleanKind, DateTimeKind, PublicIdKind, StringKind
from core.errors import NotFound
from imports.services import import_jobs_create_for_list
from subscribers.api.serializers import SubscriberOutputSerializer
from subscribers.models import Subscriber
from subscribers.selectors import subscriber_get


class AudienceNotFound(NotFound):
    default_message = "Audience not found"


class ListNotFound(NotFound):
    code = "LIST_NOT_FOUND"
    default_message = "List not found"


class AudienceApiView(ApiView):
    scope_map = scopes_for("audiences")
    validation_error_code = "INVALID_AUDIENCE"
    validation_error_message = "Invalid audience data"
    not_found_message = "Audience not found"

    def get_object(self, public_id: str) -> Audience:
        return get_by_public_id(selectors.audience_list(), public_id, AudienceNotFound())


class AudienceCollectionView(AudienceApiView):
    @extend_schema(request=s.AudienceInputSerializer, responses=IdResponseSerializer)
    def post(self, request: Request) -> Response:
        """Create an audience, optionally with its `rules` (a group of conditions).

        Rule-based membership is computed in the background; GET /api/audiences/{id}/status says when it is ready."""
        data = self.parse(s.AudienceInputSerializer)
        audience = services.audience_create(name=data["name"], rules=data.get("rules"))
        return Response({"id": audience.public_id})


class AudienceListView(PagedListView, AudienceApiView):
    scope_map = scopes_for("audiences", read=("POST",), write=())
    validation_error_code = "VALIDATION_ERROR"
    output_serializer = s.AudienceOutputSerializer

    def get_queryset(self):
        return selectors.audience_list()

    def get_registry(self) -> FieldRegistry:
        return FieldRegistry(
            {
                "id": PublicIdKind("public_id"),
                "name": StringKind("name"),
                "created_at": DateTimeKind("created_at"),
                "updated_at": DateTimeKind("updated_at", nullable=True),
            }
        )

    @extend_schema(request=PageRequestSerializer, responses=page_of(s.AudienceOutputSerializer))
    def post(self, request: Request) -> Response:
        """Page through audiences (`search` in the name; filter and sort on id, name, created_at, updated_at)."""
        return super().post(request)


class AudienceDetailView(AudienceApiView):
    @extend_schema(responses=s.AudienceOutputSerializer)
    def get(self, request: Request, audience_id: str) -> Response:
        """One audience."""
        audience = self.get_object(audience_id)
        return with_etag(Response(s.AudienceOutputSerializer(audience).data), audience.version)

    @extend_schema(request=s.AudienceInputSerializer, responses=IdResponseSerializer)
    def put(self, request: Request, audience_id: str) -> Response:
        """Rename an audience, and replace its rules when `rules` is sent (membership is then recomputed)."""
        audience = self.get_object(audience_id)
        data = self.parse(s.AudienceInputSerializer)
        rules = {"rules": data["rules"]} if "rules" in data else {}
        audience = services.audience_update(
            audience=audience, name=data["name"], expected_version=expected_version(request, data), **rules
        )
        return with_etag(Response({"id": audience.public_id}), audience.version)

    @extend_schema(responses=IdResponseSerializer)
    def delete(self, request: Request, audience_id: str) -> Response:
        """Delete an audience and its memberships. Lists on it keep their members: static lists move to `aud_default`,
        dynamic lists become static lists holding the members they have now; each list's history
        (GET /api/lists/{id}/history) records the change.

        Refused for `aud_default` (400) and loyalty tiers (400), and with 409 `INVALID_AUDIENCE` naming them while
        other audiences' rules name it or lists include or exclude it."""
        services.audience_delete(audience=self.get_object(audience_id), actor=actor_of(request))
        return Response({"id": audience_id})


class AudienceSubscribersView(AudienceApiView):
    @extend_schema(request=s.MembershipInputSerializer, responses=AudienceMembershipResponseSerializer)
    def post(self, request: Request, audience_id: str) -> Response:
        """Add a subscriber to an audience by hand (`{"subscriber_id"}`), whatever its rules say."""
        audience = self.get_object(audience_id)
        data = self.parse(s.MembershipInputSerializer)
        subscriber = subscriber_get(data["subscriber_id"])
        services.audience_add_subscriber(audience=audience, subscriber=subscriber)
        return Response({"audience_id": audience.public_id, "subscriber_id": subscriber.public_id})


class AudienceSubscriberDetailView(AudienceApiView):
    @extend_schema(responses=AudienceMembershipResponseSerializer)
    def delete(self, request: Request, audience_id: str, subscriber_id: str) -> Response:
        """Remove a subscriber added to an audience by hand."""
        audience = self.get_object(audience_id)
        subscriber = subscriber_get(subscriber_id)
        services.audience_remove_subscriber(audience=audience, subscriber=subscriber)
        return Response({"audience_id": audience.public_id, "subscriber_id": subscriber.public_id})


class ListApiView(ApiView):
    scope_map = scopes_for("lists")
    validation_error_message = "Invalid list data"
    not_found_code = "LIST_NOT_FOUND"
    not_found_message = "List not found"

    def get_object(self, public_id: str) -> MarketingList:
        return get_by_public_id(selectors.marketing_list_list(), public_id, ListNotFound())

    def get_audience(self, public_id: str) -> Audience:
        audiences = services.resolve_audiences([public_id], field="audience_id")
        return audiences[0]


def jobs_scopes(request: Request) -> tuple[str, ...]:
    """A list create or update whose `jobs` array holds a new job starts imports: it needs `imports:write` as well
    (jobs echoed from GET, with their `id`, start nothing)."""
    jobs = request.data.get("jobs") if request.method in ("POST", "PUT") and isinstance(request.data, dict) else None
    if isinstance(jobs, list) and any(not s.is_echoed_job(entry) for entry in jobs):
        return ("imports:write",)
    return ()


class ListCollectionView(ListApiView):
    def body_scopes(self, request: Request) -> tuple[str, ...]:
        return jobs_scopes(request)

    @extend_schema(request=s.ListInputSerializer, responses=IdResponseSerializer)
    def post(self, request: Request) -> Response:
        """Create a list on an audience: `static` (members added one by one or imported) or `dynamic` (its members are
        the audience's).

        Each entry of `jobs` starts an import into the new list."""
        data = self.parse(s.ListInputSerializer)
        with transaction.atomic():
            marketing_list = services.list_create(
                name=data["name"],
                mode=data["mode"],
                audience=self.get_audience(data["audience_id"]),
                actor=actor_of(request),
            )
            if data.get("jobs"):
                import_jobs_create_for_list(marketing_list=marketing_list, jobs=data["jobs"])
        return Response({"id": marketing_list.public_id})


class ListListView(PagedListView, ListApiView):
    scope_map = scopes_for("lists", read=("POST",), write=())
    output_serializer = s.ListOutputSerializer

    def get_queryset(self):
        return selectors.marketing_list_list()

    def get_registry(self) -> FieldRegistry:
        return FieldRegistry(
            {
                "id": PublicIdKind("public_id"),
                "name": StringKind("name"),
                "mode": StringKind("mode"),
                "audience_id": PublicIdKind("audience__public_id"),
                "archived": BooleanKind("archived"),
                "created_at": DateTimeKind("created_at"),
                "updated_at": DateTimeKind("updated_at", nullable=True),
            }
        )

    @extend_schema(request=PageRequestSerializer, responses=page_of(s.ListOutputSerializer))
    def post(self, request: Request) -> Response:
        """Page through lists (filter on id, name, mode, audience_id, archived and the timestamps), each with its
        member count (`size`) and who created it."""
        return super().post(request)


class ListDetailView(ListApiView):
    def body_scopes(self, request: Request) -> tuple[str, ...]:
        return jobs_scopes(request)

    @extend_schema(responses=s.ListDetailSerializer)
    def get(self, request: Request, list_id: str) -> Response:
        """One list, with its member count (`size`), who created it, and its latest import jobs."""
        marketing_list = self.get_object(list_id)
        return with_etag(Response(s.ListDetailSerializer(marketing_list).data), marketing_list.version)

    @extend_schema(request=s.ListInputSerializer, responses=IdResponseSerializer)
    def put(self, request: Request, list_id: str) -> Response:
        """Update a list's name, mode or audience; each entry of `jobs` starts an import into it.

        Static to dynamic replaces the list's own members by its audience's (export them first: GET
        /api/lists/{id}/export); dynamic to static keeps the members it has. Either switch is recorded in the list's
        history (GET /api/lists/{id}/history) with the member counts."""
        marketing_list = self.get_object(list_id)
        data = self.parse(s.ListInputSerializer, partial=True)
        with transaction.atomic():
            marketing_list = services.list_update(
                marketing_list=marketing_list,
                name=data.get("name"),
                mode=data.get("mode"),
                audience=self.get_audience(data["audience_id"]) if "audience_id" in data else None,
                expected_version=expected_version(request, data),
                actor=actor_of(request),
            )
            if data.get("jobs"):
                import_jobs_create_for_list(marketing_list=marketing_list, jobs=data["jobs"])
        return with_etag(Response({"id": marketing_list.public_id}), marketing_list.version)

    @extend_schema(responses=IdResponseSerializer)
    def delete(self, request: Request, list_id: str) -> Response:
        """Delete a list and its memberships (the subscribers stay); refused while an audience's rules use it."""
        services.list_delete(marketing_list=self.get_object(list_id))
        return Response({"id": list_id})


class ListHistoryView(ListApiView):
    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("limit", int)],
        responses=page_of(s.ListChangeSerializer),
    )
    def get(self, request: Request, list_id: str) -> Response:
        """Page through a list's history, newest first (`page`, `limit` up to 100): the changes to what the list is
        that keep its members, such as a mode switch or the deletion of its audience, each with who made it and the
        member counts."""
        marketing_list = self.get_object(list_id)
        page = self.parse(s.HistoryPageSerializer, data=request.query_params.dict())
        return Response(
            page_envelope(
                selectors.list_changes_of(marketing_list),
                PageRequest(page=page["page"], limit=page["limit"]),
                lambda rows: s.ListChangeSerializer(rows, many=True).data,
            )
        )


class ListSubscribersView(ListApiView):
    @extend_schema(request=s.MembershipInputSerializer, responses=ListMembershipResponseSerializer)
    def post(self, request: Request, list_id: str) -> Response:
        """Add a subscriber to a static list (`{"subscriber_id"}`)."""
        marketing_list = self.get_object(list_id)
        data = self.parse(s.MembershipInputSerializer)
        subscriber = subscriber_get(data["subscriber_id"])
        services.list_add_subscriber(marketing_list=marketing_list, subscriber=subscriber)
        return Response({"list_id": marketing_list.public_id, "subscriber_id": subscriber.public_id})


class ListSubscriberDetailView(ListApiView):
    @extend_schema(responses=ListMembershipResponseSerializer)
    def delete(self, request: Request, list_id: str, subscriber_id: str) -> Response:
        """Remove a subscriber from a static list."""
        marketing_list = self.get_object(list_id)
        subscriber = subscriber_get(subscriber_id)
        services.list_remove_subscriber(marketing_list=marketing_list, subscriber=subscriber)
        return Response({"list_id": marketing_list.public_id, "subscriber_id": subscriber.public_id})


def subscriber_cursor_page(queryset: QuerySet[Subscriber], page: CursorPage) -> dict:
    """A cursor page of subscribers as the member pages answer it: the count, the page's rows, then their relations
    in one query (`SubscriberOutputSerializer` with `many=True`)."""
    if page.search:
        queryset = queryset.filter(words_search_q(page.search, ("email", "first_name", "last_name")))
    return cursor_page_envelope(queryset, page, lambda rows: SubscriberOutputSerializer(rows, many=True).data)


def _subscriber_page(queryset: QuerySet[Subscriber], request: Request) -> dict:
    return subscriber_cursor_page(queryset, parse_cursor_page(request.query_params))


class AudienceRulesView(AudienceApiView):
    """The audience's rule tree. Setting it recomputes membership in the background (see /status)."""

    @extend_schema(responses=s.AudienceRulesSerializer)
    def get(self, request: Request, audience_id: str) -> Response:
        """An audience's rules: a group `{"match": "all"|"any", "negate", "conditions"}`, or null."""
        audience = self.get_object(audience_id)
        return with_etag(Response({"id": audience.public_id, "rules": audience.rules}), audience.version)

    @extend_schema(request=s.AudienceRulesSerializer, responses=s.AudienceStatusSerializer)
    def post(self, request: Request, audience_id: str) -> Response:
        """Set an audience's rules (`{"rules": group}` or the group itself) and recompute its membership in the
        background.

        The answer is the materialization status; GET /api/audiences/{id}/status follows it."""
        audience = self.get_object(audience_id)
        data = request.data
        # Either {"rules": {...group...}} (as GET answers it) or the group itself, which the compiler checks.
        if isinstance(data, dict) and "rules" in data:
            data = self.parse(s.AudienceRulesSerializer)
        rules = data.get("rules") if isinstance(data, dict) and "rules" in data else data
        audience = services.audience_update(
            audience=audience, rules=rules, expected_version=expected_version(request, data)
        )
        return Response(audience_status(audience))

    @extend_schema(responses=s.AudienceStatusSerializer)
    def delete(self, request: Request, audience_id: str) -> Response:
        """Remove an audience's rules: only the subscribers added by hand stay members."""
        audience = services.audience_update(audience=self.get_object(audience_id), rules=None)
        return Response(audience_status(audience))


class AudienceStatusView(AudienceApiView):
    @extend_schema(responses=s.AudienceStatusSerializer)
    def get(self, request: Request, audience_id: str) -> Response:
        """Where an audience's membership computation stands: `pending`, `materializing` or `ready`, with
        `materialized_at`."""
        return Response(audience_status(self.get_object(audience_id)))


class AudienceCountView(AudienceApiView):
    @extend_schema(responses=s.AudienceCountSerializer)
    def get(self, request: Request, audience_id: str) -> Response:
        """How many subscribers an audience has, and how many of them are reachable (active, not suppressed)."""
        audience = self.get_object(audience_id)
        members = selectors.audience_members(audience)
        return Response(
            {
                "id": audience.public_id,
                "count": members.count(),
                "reachable": selectors.reachable(members).count(),
                "status": audience.status,
            }
        )


class AudienceMembersView(AudienceApiView):
    @extend_schema(parameters=[CursorPageSerializer], responses=cursor_page_of(SubscriberOutputSerializer))
    def get(self, request: Request, audience_id: str) -> Response:
        """Page through an audience's members with a cursor (`first` up to 100, `after` the last page's
        `pageInfo.endCursor`, `search`)."""
        audience = self.get_object(audience_id)
        return Response(_subscriber_page(selectors.audience_members(audience), request))


class AudienceMemberExplainView(AudienceApiView):
    @extend_schema(responses=s.MembershipExplanationSerializer)
    def get(self, request: Request, audience_id: str, subscriber_id: str) -> Response:
        """Why a subscriber is or is not a member of an audience: each rule condition evaluated for them."""
        audience = self.get_object(audience_id)
        return Response(explain_membership(audience, subscriber_get(subscriber_id)))


class ListMembersView(ListApiView):
    @extend_schema(parameters=[CursorPageSerializer], responses=cursor_page_of(SubscriberOutputSerializer))
    def get(self, request: Request, list_id: str) -> Response:
        """Page through a list's members with a cursor (`first` up to 100, `after` the last page's
        `pageInfo.endCursor`, `search`)."""
        marketing_list = self.get_object(list_id)
        return Response(_subscriber_page(selectors.list_members(marketing_list), request))


class ListCompositionView(ListApiView):
    """Suppression flag, unions and exclusions of a list (kept apart from the seed's list shape)."""

    @extend_schema(responses=s.ListCompositionSerializer)
    def get(self, request: Request, list_id: str) -> Response:
        """How a list is composed: its suppression flag, and the lists and audiences it includes and excludes."""
        marketing_list = self.get_object(list_id)
        return with_etag(Response(s.list_composition(marketing_list)), marketing_list.version)

    @extend_schema(request=s.ListCompositionSerializer, responses=s.ListCompositionSerializer)
    def put(self, request: Request, list_id: str) -> Response:
        """Change how a list is composed: the parts sent are replaced, the others stay.

        A suppression list's members are left out of every other list's reachable members."""
        marketing_list = self.get_object(list_id)
        data = self.parse(s.ListCompositionSerializer)
        parts = {}
        for name in ("include_lists", "exclude_lists"):
            if name in data:
                parts[name] = services.resolve_lists(data[name], field=name)
        for name in ("include_audiences", "exclude_audiences"):
            if name in data:
                parts[name] = services.resolve_audiences(data[name], field=name)
        marketing_list = services.list_set_composition(
            marketing_list=marketing_list,
            is_suppression=data.get("is_suppression"),
            archived=data.get("archived"),
            expected_version=expected_version(request, data),
            **parts,
        )
        return with_etag(Response(s.list_composition(marketing_list)), marketing_list.version)
