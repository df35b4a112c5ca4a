"""A subscriber's `memberships` in the embedded mode (SQLite), run for real in a subprocess: a composed list's members
are evaluated there by SQL that SQLite must take too."""

from tests.embedded import embedded_script_result

SCRIPT = """
from audiences.models import DEFAULT_AUDIENCE_ID, Audience
from audiences.services import audience_create, list_create, list_set_composition, subscriber_set_memberships
from subscribers.api.serializers import SubscriberOutputSerializer
from subscribers.models import Subscriber
from subscribers.services import subscriber_create
from tests.subscribers.memberships_reference import memberships_by_hand

hand = audience_create(name="Hand-picked")
vip = list_create(name="VIP", mode="static", audience=hand)
list_create(name="Everyone", mode="dynamic", audience=Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID))
list_create(name="Hand list", mode="dynamic", audience=hand)
campaign = list_create(name="Campaign", mode="static", audience=hand)
list_set_composition(marketing_list=campaign, include_lists=[vip], exclude_audiences=[hand])
for index in range(4):
    subscriber = subscriber_create(email=f"s{index}@example.com", first_name="S")
    subscriber_set_memberships(subscriber=subscriber, audiences=[hand] if index % 2 else [],
                               lists=[vip] if index < 3 else [])
rows = SubscriberOutputSerializer(Subscriber.objects.order_by("pk"), many=True).data
by_email = {subscriber.email: subscriber for subscriber in Subscriber.objects.all()}
assert all(row["memberships"] == memberships_by_hand(by_email[row["email"]]) for row in rows), rows
import json
print("RESULT", json.dumps([sorted(item["name"] for item in row["memberships"]["lists"]) for row in rows]))
"""


def test_memberships_on_sqlite(tmp_path):
    lists = embedded_script_result(tmp_path, SCRIPT)
    expected = [
        ["Campaign", "Everyone", "VIP"],  # in VIP, so in Campaign
        ["Everyone", "Hand list", "VIP"],  # hand-picked: out of Campaign
        ["Campaign", "Everyone", "VIP"],
        ["Everyone", "Hand list"],
    ]
    assert lists == expected
