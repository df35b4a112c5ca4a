from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse

from preferences.views import page_not_found


class NotFoundPageMiddleware:
    """An Http404 raised by a view (the admin's, a public page's) answers the branded 404 page. Without it, DEBUG
    (as `make run` runs) shows Django's technical 404, which lists every URL pattern. /api/ keeps its JSON envelope."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Http404) and not request.path.startswith("/api/"):
            return page_not_found(request, exception)
        return None
