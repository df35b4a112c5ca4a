from django.urls import path

from subscribers.api import engagement_views, views

urlpatterns = [
    path("subscribers", views.SubscriberCollectionView.as_view(), name="subscriber-create"),
    path("subscribers/list", views.SubscriberListView.as_view(), name="subscriber-list"),
    path("subscribers/search", views.SubscriberSearchView.as_view(), name="subscriber-search"),
    path("subscribers/batch", views.SubscriberBatchView.as_view(), name="subscriber-batch"),
    path("subscribers/<str:subscriber_id>", views.SubscriberDetailView.as_view(), name="subscriber-detail"),
    path(
        "subscribers/<str:subscriber_id>/engagements",
        engagement_views.SubscriberEngagementsView.as_view(),
        name="subscriber-engagements",
    ),
    path("engagements/events", engagement_views.EngagementEventsView.as_view(), name="engagement-events"),
    path("subscription-types", views.SubscriptionTypeCollectionView.as_view(), name="subscription-type-create"),
    path("subscription-types/list", views.SubscriptionTypeListView.as_view(), name="subscription-type-list"),
    path(
        "subscription-types/<str:type_id>", views.SubscriptionTypeDetailView.as_view(), name="subscription-type-detail"
    ),
    path("custom-fields", views.CustomFieldCollectionView.as_view(), name="custom-field-create"),
    path("custom-fields/list", views.CustomFieldListView.as_view(), name="custom-field-list"),
    path("custom-fields/<str:field_id>", views.CustomFieldDetailView.as_view(), name="custom-field-detail"),
    path("tags", views.TagCollectionView.as_view(), name="tag-create"),
    path("tags/list", views.TagListView.as_view(), name="tag-list"),
    path("tags/<str:tag_id>", views.TagDetailView.as_view(), name="tag-detail"),
]
