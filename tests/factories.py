"""factory_boy factories for the models most tests need. Keep them plain: each builds a valid row with unique
names, and tests say what matters to them (`SubscriberFactory(additional_fields_data={"age": 30})`)."""

import factory

from audiences.models import Audience, MarketingList
from subscribers.models import CustomField, Subscriber, SubscriptionType, Tag


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"subscriber{n}@example.com")
    first_name = ""
    last_name = ""
    active = True
    additional_fields_data = factory.LazyFunction(dict)

    @factory.post_generation
    def tags(self, create: bool, extracted: list[Tag] | None, **kwargs: object) -> None:
        """`SubscriberFactory(tags=[tag, ...])`."""
        if create and extracted:
            self.tags.add(*extracted)


class SubscriptionTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SubscriptionType

    name = factory.Sequence(lambda n: f"Subscription type {n}")
    description = ""


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"tag-{n}")


class CustomFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomField

    name = factory.Sequence(lambda n: f"field_{n}")
    field_type = CustomField.FieldType.STRING


class AudienceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Audience

    name = factory.Sequence(lambda n: f"Audience {n}")


class MarketingListFactory(factory.django.DjangoModelFactory):
    """A static list; `MarketingListFactory(mode="dynamic", audience=...)` for a dynamic one."""

    class Meta:
        model = MarketingList

    name = factory.Sequence(lambda n: f"List {n}")
    mode = MarketingList.Mode.STATIC
    audience = factory.SubFactory(AudienceFactory)
