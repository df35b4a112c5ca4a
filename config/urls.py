from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.api.views import api_route_not_found

urlpatterns = [
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
]
