"""The preference center's form, and the receipt of what a save changed that rides through the redirect after it."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core import signing
from django.db import models

from subscribers.models import Subscriber, SubscriptionType

RECEIPT_SALT = "roster.preferences.saved"
# The confirmation shows after the redirect that follows a save, and on a reload soon after; an old link shows none.
RECEIPT_MAX_AGE_SECONDS = 15 * 60


class KnownIdsField(forms.MultipleChoiceField):
    """Subscription type ids posted by the page. One that names no current type (deleted since the page was
    rendered) is dropped rather than failing the save of the others."""

    def clean(self, value: Any) -> list[str]:
        return [choice for choice in self.to_python(value) if self.valid_value(choice)]


class PreferenceCenterForm(forms.Form):
    """What the page posts: the types it showed (hidden `shown` inputs), the ones left on (`subscribe` checkboxes)
    and the button pressed. Only the types shown change: a type added after the page was rendered keeps its state."""

    class Action(models.TextChoices):
        SAVE = "save", "Save preferences"
        UNSUBSCRIBE_ALL = "unsubscribe_all", "Unsubscribe from everything"

    action = forms.ChoiceField(choices=Action.choices, required=False)
    shown = KnownIdsField(required=False, widget=forms.MultipleHiddenInput)
    subscribe = KnownIdsField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, subscription_types: Iterable[SubscriptionType], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.types_by_id = {subscription_type.public_id: subscription_type for subscription_type in subscription_types}
        choices = [(public_id, subscription_type.name) for public_id, subscription_type in self.types_by_id.items()]
        self.fields["shown"].choices = choices
        self.fields["subscribe"].choices = choices

    @property
    def unsubscribes_from_everything(self) -> bool:
        return self.cleaned_data.get("action") == self.Action.UNSUBSCRIBE_ALL

    @property
    def shown_types(self) -> list[SubscriptionType]:
        return [self.types_by_id[public_id] for public_id in dict.fromkeys(self.cleaned_data["shown"])]

    @property
    def chosen_types(self) -> list[SubscriptionType]:
        """The types switched on, among those shown."""
        shown = set(self.cleaned_data["shown"])
        return [
            self.types_by_id[public_id]
            for public_id in dict.fromkeys(self.cleaned_data["subscribe"])
            if public_id in shown
        ]


@dataclass(frozen=True)
class SaveReceipt:
    """What one save changed, signed into the querystring of the redirect (POST-redirect-GET) so that the page after
    it can say so without keeping any server state. Bound to the subscriber: it confirms nothing on another's page."""

    subscribed: list[str] = field(default_factory=list)  # subscription type public ids
    unsubscribed: list[str] = field(default_factory=list)
    deactivated: bool = False
    reactivated: bool = False
    reactivation_refused: bool = False

    @classmethod
    def between(
        cls,
        before: Mapping[int, bool],
        after: Mapping[int, bool],
        types: Iterable[SubscriptionType],
        **flags: bool,
    ) -> "SaveReceipt":
        subscribed, unsubscribed = [], []
        for subscription_type in types:
            was, now = before.get(subscription_type.pk, False), after.get(subscription_type.pk, False)
            if now and not was:
                subscribed.append(subscription_type.public_id)
            elif was and not now:
                unsubscribed.append(subscription_type.public_id)
        return cls(subscribed=subscribed, unsubscribed=unsubscribed, **flags)

    def sign(self, subscriber: Subscriber) -> str:
        payload = {
            "s": subscriber.public_id,
            "on": self.subscribed,
            "off": self.unsubscribed,
            "f": "".join(
                flag
                for flag, on in (("d", self.deactivated), ("r", self.reactivated), ("x", self.reactivation_refused))
                if on
            ),
        }
        return signing.dumps(payload, salt=RECEIPT_SALT, compress=True)

    @classmethod
    def read(cls, signed: str | None, subscriber: Subscriber) -> "SaveReceipt | None":
        if not signed or len(signed) > 2000:
            return None
        try:
            payload = signing.loads(signed, salt=RECEIPT_SALT, max_age=RECEIPT_MAX_AGE_SECONDS)
        except (signing.BadSignature, ValueError, UnicodeError):
            return None
        if not isinstance(payload, dict) or payload.get("s") != subscriber.public_id:
            return None
        flags = str(payload.get("f", ""))
        return cls(
            subscribed=[str(public_id) for public_id in payload.get("on", [])],
            unsubscribed=[str(public_id) for public_id in payload.get("off", [])],
            deactivated="d" in flags,
            reactivated="r" in flags,
            reactivation_refused="x" in flags,
        )

    def changes(self, types_by_id: Mapping[str, SubscriptionType]) -> list[str]:
        """Sentences for the confirmation, one per change, naming types as they are called now."""
        lines = []
        if self.reactivated:
            lines.append("Emails to you are switched back on.")
        lines += [f"Subscribed to {types_by_id[i].name}." for i in self.subscribed if i in types_by_id]
        lines += [f"Unsubscribed from {types_by_id[i].name}." for i in self.unsubscribed if i in types_by_id]
        if self.deactivated:
            lines.append("Unsubscribed from all emails.")
        return lines
