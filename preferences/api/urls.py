from django.urls import path

from preferences.api import views

# Included before the subscribers app's URLs: `subscribers/preferences/...` and `subscribers/email/...` are
# token routes, not subscriber ids.
urlpatterns = [
    path("marketing-emails", views.MarketingEmailCollectionView.as_view(), name="marketing-email-create"),
    path("marketing-emails/list", views.MarketingEmailListView.as_view(), name="marketing-email-list"),
    path("marketing-emails/<str:email_id>", views.MarketingEmailDetailView.as_view(), name="marketing-email-detail"),
    path(
        "subscribers/preferences/<str:token>",
        views.SubscriberPreferencesView.as_view(),
        name="subscriber-preferences",
    ),
    path("subscribers/email/<str:token>/preview", views.EmailPreviewView.as_view(), name="email-preview"),
    path("subscribers/<str:subscriber_id>/links", views.SubscriberLinksView.as_view(), name="subscriber-links"),
]
