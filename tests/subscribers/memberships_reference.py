"""A subscriber's `memberships` worked out the slow way, audience by audience and list by list, from the members
selectors that the members pages read: what the API's one-page-at-a-time answer must equal."""

from audiences.models import Audience, AudienceMembership, ListMembership, MarketingList
from audiences.selectors import audience_members, list_members
from subscribers.models import Subscriber


def _in(members, subscriber: Subscriber) -> bool:
    return members.filter(pk=subscriber.pk).exists()


def memberships_by_hand(subscriber: Subscriber) -> dict[str, list[dict]]:
    audiences = []
    for audience in Audience.objects.all():
        if not _in(audience_members(audience), subscriber):
            continue
        row = AudienceMembership.objects.filter(audience=audience, subscriber=subscriber).first()
        how = ["default"] if audience.is_default else []
        how += (["manual"] if row and row.is_manual else []) + (["rule"] if row and row.is_rule_match else [])
        audiences.append({"id": audience.public_id, "name": audience.name, "how": how})
    lists = []
    for marketing_list in MarketingList.objects.select_related("audience"):
        if not _in(list_members(marketing_list), subscriber):
            continue
        if marketing_list.is_dynamic:
            how = ["dynamic"] if _in(audience_members(marketing_list.audience), subscriber) else []
        else:
            how = (
                ["manual"]
                if ListMembership.objects.filter(marketing_list=marketing_list, subscriber=subscriber)
                else []
            )
        included = any(_in(list_members(other), subscriber) for other in marketing_list.include_lists.all()) or any(
            _in(audience_members(other), subscriber) for other in marketing_list.include_audiences.all()
        )
        lists.append({"id": marketing_list.public_id, "name": marketing_list.name,
                      "how": [*how, "included"] if included else how,
                      "suppression": marketing_list.is_suppression})  # fmt: skip
    for items in (audiences, lists):
        items.sort(key=lambda item: (item["name"].casefold(), item["id"]))
    return {"audiences": audiences, "lists": lists}
