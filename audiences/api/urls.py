from django.urls import path

from audiences.api import group_views, growth_views, views
from imports.api import contacts_views

urlpatterns = [
    path("audiences", views.AudienceCollectionView.as_view(), name="audience-create"),
    path("audiences/list", views.AudienceListView.as_view(), name="audience-list"),
    # Before `audiences/<str:audience_id>`, which would take "loyalty-tiers" and "groups" for audience ids.
    path("audiences/loyalty-tiers", group_views.LoyaltyTiersCollectionView.as_view(), name="loyalty-tiers-create"),
    path(
        "audiences/loyalty-tiers/<str:group_id>",
        group_views.LoyaltyTiersDetailView.as_view(),
        name="loyalty-tiers-detail",
    ),
    path("audiences/groups/<str:group_id>", group_views.AudienceGroupDetailView.as_view(), name="audience-group"),
    path(
        "audiences/groups/<str:group_id>/members",
        group_views.AudienceGroupMembersView.as_view(),
        name="audience-group-members",
    ),
    path("audiences/<str:audience_id>", views.AudienceDetailView.as_view(), name="audience-detail"),
    path(
        "audiences/<str:audience_id>/subscribers", views.AudienceSubscribersView.as_view(), name="audience-subscribers"
    ),
    path(
        "audiences/<str:audience_id>/subscribers/<str:subscriber_id>",
        views.AudienceSubscriberDetailView.as_view(),
        name="audience-subscriber-detail",
    ),
    path("audiences/<str:audience_id>/rules", views.AudienceRulesView.as_view(), name="audience-rules"),
    path("audiences/<str:audience_id>/status", views.AudienceStatusView.as_view(), name="audience-status"),
    path("audiences/<str:audience_id>/count", views.AudienceCountView.as_view(), name="audience-count"),
    path("audiences/<str:audience_id>/members", views.AudienceMembersView.as_view(), name="audience-members"),
    path("audiences/<str:audience_id>/growth", growth_views.AudienceGrowthView.as_view(), name="audience-growth"),
    path(
        "audiences/<str:audience_id>/members/<str:subscriber_id>/explain",
        views.AudienceMemberExplainView.as_view(),
        name="audience-member-explain",
    ),
    path("lists", contacts_views.ListCollectionView.as_view(), name="list-create"),
    path("lists/list", views.ListListView.as_view(), name="list-list"),
    path("lists/<str:list_id>", views.ListDetailView.as_view(), name="list-detail"),
    path("lists/<str:list_id>/subscribers", views.ListSubscribersView.as_view(), name="list-subscribers"),
    path("lists/<str:list_id>/members", views.ListMembersView.as_view(), name="list-members"),
    path("lists/<str:list_id>/growth", growth_views.ListGrowthView.as_view(), name="list-growth"),
    path("lists/<str:list_id>/history", views.ListHistoryView.as_view(), name="list-history"),
    path("lists/<str:list_id>/composition", views.ListCompositionView.as_view(), name="list-composition"),
    path("lists/<str:list_id>/contacts", contacts_views.ListContactsView.as_view(), name="list-contacts"),
    path(
        "lists/<str:list_id>/contacts/remove",
        contacts_views.ListContactsRemoveView.as_view(),
        name="list-contacts-remove",
    ),
    path("lists/<str:list_id>/archive", contacts_views.ListArchiveView.as_view(), name="list-archive"),
    path("lists/<str:list_id>/export", contacts_views.ListExportView.as_view(), name="list-export"),
    path(
        "lists/<str:list_id>/subscribers/<str:subscriber_id>",
        views.ListSubscriberDetailView.as_view(),
        name="list-subscriber-detail",
    ),
]
