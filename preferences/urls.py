from django.urls import path

from preferences import views

app_name = "preferences"

urlpatterns = [
    path("preferences/<str:token>", views.preference_center, name="center"),
    path("unsubscribe/<str:token>", views.unsubscribe, name="unsubscribe"),
    path("email/<str:token>", views.email_view, name="email-view"),
    path("email/<str:token>/content", views.email_view_content, name="email-view-content"),
]
