"""Audience groups and loyalty tiers (seed 002): create and update tier groups, read a group with its audiences and
their counts, page through its members, delete it."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from audiences import groups
from audiences.api import group_serializers as s
from audiences.api.views import AudienceApiView, _subscriber_page
from core.api.schema import IdResponseSerializer, cursor_page_of
from core.api.views import expected_version, with_etag
from subscribers.api.serializers import SubscriberOutputSerializer


class AudienceGroupApiView(AudienceApiView):
    not_found_message = "Audience group not found"


class LoyaltyTiersCollectionView(AudienceGroupApiView):
    @extend_schema(
        request=s.LoyaltyTiersInputSerializer,
        responses=s.LoyaltyTiersResponseSerializer,
        description="Create a group of tier audiences over one number field. A tier covers min <= value < max (max "
        "defaults to the next higher min; the top tier is open-ended); where tiers overlap the higher priority wins "
        "(default: position in the list, so later tiers win). Each subscriber with a value in range is in exactly one "
        "tier. Membership is computed in the background (see each audience's /status).",
    )
    def post(self, request: Request) -> Response:
        data = self.parse(s.LoyaltyTiersInputSerializer)
        group, tiers = groups.loyalty_tiers_create(
            name=data["name"], value_field=data["value_field"], tiers=s.tier_specs(data["tiers"])
        )
        return with_etag(Response(s.LoyaltyTiersResponseSerializer.answer(group, tiers)), group.version)


class LoyaltyTiersDetailView(AudienceGroupApiView):
    @extend_schema(
        request=s.LoyaltyTiersUpdateSerializer,
        responses=s.LoyaltyTiersResponseSerializer,
        description="Replace the group's tiers: new tiers are created, existing ones (matched by `id`, else by name) "
        "updated, and removed ones deleted (refused with 409 while a list uses one). Changed tiers rematerialize "
        "in the background.",
    )
    def put(self, request: Request, group_id: str) -> Response:
        group = groups.audience_group_get(group_id)
        data = self.parse(s.LoyaltyTiersUpdateSerializer)
        group, tiers = groups.loyalty_tiers_update(
            group=group,
            tiers=s.tier_specs(data["tiers"]),
            name=data.get("name"),
            value_field=data.get("value_field"),
            expected_version=expected_version(request, data),
        )
        return with_etag(Response(s.LoyaltyTiersResponseSerializer.answer(group, tiers)), group.version)


class AudienceGroupDetailView(AudienceGroupApiView):
    @extend_schema(responses=s.AudienceGroupSerializer)
    def get(self, request: Request, group_id: str) -> Response:
        """A loyalty-tier group with its audiences, their ranges and member counts."""
        group = groups.audience_group_get(group_id, with_audiences=True)
        return with_etag(Response(s.AudienceGroupSerializer(group).data), group.version)

    @extend_schema(
        responses={200: IdResponseSerializer},
        description="Delete the group and all its audiences; refused (409, naming them) while a list or another "
        "audience's rules use one of them.",
    )
    def delete(self, request: Request, group_id: str) -> Response:
        groups.audience_group_delete(group=groups.audience_group_get(group_id))
        return Response({"id": group_id})


class AudienceGroupMembersView(AudienceGroupApiView):
    @extend_schema(parameters=[s.GroupMembersQuerySerializer], responses=cursor_page_of(SubscriberOutputSerializer))
    def get(self, request: Request, group_id: str) -> Response:
        """Page through the members of a group's audiences with a cursor (`audienceId` for one of them)."""
        group = groups.audience_group_get(group_id)
        audience_id = request.query_params.get("audienceId") or None
        members = groups.audience_group_members(group, audience_id=audience_id)
        return Response(_subscriber_page(members, request))
