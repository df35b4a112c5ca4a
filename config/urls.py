from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.api.views import api_route_not_found
from preferences.views import NOT_FOUND_URL_NAME, unknown_path

handler404 = "preferences.views.page_not_found"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("core.api.urls")),
    path("api/", include("imports.api.urls")),
    path("api/", include("preferences.api.urls")),
    path("api/", include("subscribers.api.urls")),
    path("api/", include("audiences.api.urls")),
    path("webhooks/anymail/", include("subscribers.webhook_routes")),
    path("", include("preferences.urls")),
    path("api/<path:unknown>", api_route_not_found),
    # Last: any other path is the branded 404 page, never Django's DEBUG page listing these patterns.
    re_path(r"^(?P<unknown>.*)$", unknown_path, name=NOT_FOUND_URL_NAME),
]
