"""Public pages a subscriber opens from an email, without an account: the preference center, one-click unsubscribe and
"view in browser".

The signed token in the URL is the only credential. Any token that does not read (forged, truncated, revoked, for
another purpose) answers the same plain 404, which says nothing about who exists. Every page is uncacheable, sends
no Referer that would carry its token elsewhere, and has a Content-Security-Policy; stored email HTML is served from
its own sandboxed response (no script, an opaque origin) inside a sandboxed frame.
"""

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, HttpResponseRedirect
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import add_never_cache_headers
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from core.http import client_ip
from preferences.branding import Brand
from preferences.forms import PreferenceCenterForm, SaveReceipt
from preferences.services import (
    available_subscription_types,
    one_click_unsubscribe,
    preference_center_update,
    render_email_for,
    subscriber_subscriptions,
)
from preferences.tokens import LinkClaims, Purpose, make_token, read_token
from subscribers.models import ConsentRecord, SubscriptionType
from subscribers.services import ConsentSource, may_resubscribe_themselves

ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"  # RFC 8058's POST body
# The confirmation page's button posts the One-Click body too, plus this field, to be answered with a page.
FROM_PAGE_FIELD = "confirmed_on"

# ---------------------------------------------------------------------------------------------------------------------
# Headers shared by the pages.


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _csp(directives: dict[str, Iterable[str]]) -> str:
    return "; ".join(f"{name} {' '.join(sources)}".strip() for name, sources in directives.items())


def _page_csp(nonce: str, brand: Brand, **extra: Iterable[str]) -> str:
    """Roster's own pages: its static script and styles, one nonce'd <style> for the brand colours, the logo."""
    logo_origin = _origin(brand.logo_url)
    directives: dict[str, Iterable[str]] = {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", f"'nonce-{nonce}'"],
        "img-src": ["'self'", *([logo_origin] if logo_origin else [])],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
    }
    directives.update({name.replace("_", "-"): sources for name, sources in extra.items()})
    return _csp(directives)


def _private(response: HttpResponse, *, referrer_policy: str = "no-referrer") -> HttpResponse:
    """A response about one subscriber: never cached, never indexed, its URL (a token) never sent to another site."""
    add_never_cache_headers(response)
    response["Referrer-Policy"] = referrer_policy
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _page(
    request: HttpRequest,
    template: str,
    context: dict,
    *,
    status: int = 200,
    referrer_policy: str = "no-referrer",
    **csp_extra: Iterable[str],
) -> HttpResponse:
    brand = Brand.current()
    nonce = secrets.token_urlsafe(16)
    response = render(request, template, {"brand": brand, "csp_nonce": nonce, **context}, status=status)
    response["Content-Security-Policy"] = _page_csp(nonce, brand, **csp_extra)
    return _private(response, referrer_policy=referrer_policy)


def _not_found(request: HttpRequest) -> HttpResponse:
    """The one answer to every unusable link, whatever made it unusable."""
    return _page(request, "preferences/not_found.html", {}, status=404)


NOT_FOUND_URL_NAME = "page-not-found"


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The branded 404 of every page that does not exist (handler404, and NotFoundPageMiddleware under DEBUG)."""
    return _page(request, "preferences/page_not_found.html", {}, status=404)


@csrf_exempt  # a POST to no page at all is answered 404, not with the CSRF failure page
def unknown_path(request: HttpRequest, unknown: str = "") -> HttpResponse:
    """The last URL pattern: whatever nothing else matched. Without it Django's DEBUG page (`make run`) would list
    every URL pattern to any visitor. Being a match, it also stops CommonMiddleware's APPEND_SLASH redirect, which
    is therefore done here: `/admin` still leads to `/admin/`."""
    if settings.APPEND_SLASH and request.method in ("GET", "HEAD") and not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/", getattr(request, "urlconf", None))
        except Resolver404:
            match = None
        if match is not None and match.url_name != NOT_FOUND_URL_NAME:
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return page_not_found(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: on the public pages a branded page that says what to do (the form was open too long, or
    cookies are blocked); everywhere else Django's own page."""
    if request.path.startswith("/preferences/"):
        return _page(request, "preferences/form_expired.html", {"page_url": request.path}, status=403)
    return django_csrf_failure(request, reason=reason)


def _see_other(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return _private(response)


def _consent_source(request: HttpRequest, source: str, claims: LinkClaims) -> ConsentSource:
    return ConsentSource(
        source=source,
        ip_address=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        marketing_email_id=claims.marketing_email.pk if claims.marketing_email else None,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Preference center.


@dataclass(frozen=True)
class Topic:
    subscription_type: SubscriptionType
    subscribed: bool


# The page posts forms back to itself. Browsers send `Origin: null` on a POST from a page whose policy is
# `no-referrer`, which Django's CSRF check rightly rejects; `same-origin` still keeps the token from every other site.
PREFERENCE_CENTER_REFERRER_POLICY = "same-origin"


@require_http_methods(["GET", "HEAD", "POST"])
def preference_center(request: HttpRequest, token: str) -> HttpResponse:
    claims = read_token(Purpose.PREFERENCES, token)
    if claims is None:
        return _not_found(request)
    types = available_subscription_types()
    if request.method == "POST":
        form = PreferenceCenterForm(request.POST, subscription_types=types)
        if form.is_valid():
            receipt = _preference_center_save(request, claims, form)
            query = urlencode({"saved": receipt.sign(claims.subscriber)})
            return _see_other(f"{reverse('preferences:center', args=[token])}?{query}")
        return _preference_center_page(request, claims, token, types, status=400)
    receipt = SaveReceipt.read(request.GET.get("saved"), claims.subscriber)
    return _preference_center_page(request, claims, token, types, receipt=receipt)


def _preference_center_save(request: HttpRequest, claims: LinkClaims, form: PreferenceCenterForm) -> SaveReceipt:
    subscriber = claims.subscriber
    source = _consent_source(request, ConsentRecord.Source.PREFERENCE_CENTER, claims)
    before = subscriber_subscriptions(subscriber)
    if form.unsubscribes_from_everything:
        outcome = preference_center_update(
            subscriber=subscriber, updates=[], replace_all=True, mark_inactive=True, source=source
        )
        changed_types: list[SubscriptionType] = list(form.types_by_id.values())
    else:
        shown = form.shown_types
        outcome = preference_center_update(
            subscriber=subscriber,
            updates=[{"subscription_type_id": t.public_id, "subscribe": True} for t in form.chosen_types],
            replace_all=True,
            shown_type_pks=[t.pk for t in shown],
            source=source,
        )
        changed_types = shown
    return SaveReceipt.between(
        before,
        subscriber_subscriptions(subscriber),
        changed_types,
        deactivated=outcome.deactivated,
        reactivated=outcome.reactivated,
        reactivation_refused=outcome.reactivation_refused,
    )


def _preference_center_page(
    request: HttpRequest,
    claims: LinkClaims,
    token: str,
    types: list[SubscriptionType],
    *,
    receipt: SaveReceipt | None = None,
    status: int = 200,
) -> HttpResponse:
    subscriber = claims.subscriber
    subscriptions = subscriber_subscriptions(subscriber)
    context = {
        "subscriber": subscriber,
        "topics": [Topic(t, subscriptions.get(t.pk, False)) for t in types],
        "action_url": reverse("preferences:center", args=[token]),
        "may_resubscribe": subscriber.active or may_resubscribe_themselves(subscriber),
        "receipt": receipt,
        "changes": receipt.changes({t.public_id: t for t in types}) if receipt else [],
        "invalid": status == 400,
    }
    return _page(
        request,
        "preferences/center.html",
        context,
        status=status,
        referrer_policy=PREFERENCE_CENTER_REFERRER_POLICY,
    )


# ---------------------------------------------------------------------------------------------------------------------
# One-click unsubscribe (RFC 8058).


def _is_unsubscribed(claims: LinkClaims) -> bool:
    """Whether this link's unsubscribe is already done: from its subscription type, or from everything."""
    if claims.subscription_type is None:
        return not claims.subscriber.active
    return not subscriber_subscriptions(claims.subscriber).get(claims.subscription_type.pk, False)


# Mail clients post without a CSRF token, and need none: the token in the URL is the credential, and a forged
# cross-site POST could do nothing that its author, who must hold the token, could not do directly.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    claims = read_token(Purpose.UNSUBSCRIBE, token)
    if claims is None:
        return _not_found(request)
    if request.method == "POST":
        if request.POST.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
            response = HttpResponse(
                "Expected List-Unsubscribe=One-Click.\n", status=400, content_type="text/plain; charset=utf-8"
            )
            return _private(response)
        one_click_unsubscribe(claims=claims, source=_consent_source(request, ConsentRecord.Source.ONE_CLICK, claims))
        if request.POST.get(FROM_PAGE_FIELD) == "page":
            return _see_other(reverse("preferences:unsubscribe", args=[token]))
        return _private(HttpResponse("You are unsubscribed.\n", content_type="text/plain; charset=utf-8"))
    # A GET changes nothing, so that link scanners and previews unsubscribe nobody.
    preference_token = make_token(
        Purpose.PREFERENCES,
        claims.subscriber,
        marketing_email=claims.marketing_email,
        subscription_type=claims.subscription_type,
    )
    context = {
        "subscriber": claims.subscriber,
        "subscription_type": claims.subscription_type,
        "unsubscribed": _is_unsubscribed(claims),
        "action_url": reverse("preferences:unsubscribe", args=[token]),
        "preference_center_url": reverse("preferences:center", args=[preference_token]),
        "one_click_field": ONE_CLICK_FIELD,
        "one_click_value": ONE_CLICK_VALUE,
        "from_page_field": FROM_PAGE_FIELD,
    }
    return _page(request, "preferences/unsubscribe.html", context)


# ---------------------------------------------------------------------------------------------------------------------
# View in browser.

# Links may open in a new tab, outside the sandbox; nothing else. Never allow-scripts, never allow-same-origin.
EMAIL_CONTENT_SANDBOX = ["allow-popups", "allow-popups-to-escape-sandbox"]


def _email_claims(token: str) -> LinkClaims | None:
    claims = read_token(Purpose.EMAIL_VIEW, token)
    return claims if claims is not None and claims.marketing_email is not None else None


def _email_content_url(token: str) -> str:
    path = reverse("preferences:email-view-content", args=[token])
    base = settings.EMAIL_VIEW_BASE_URL
    return f"{base.rstrip('/')}{path}" if base else path


@require_safe
def email_view(request: HttpRequest, token: str) -> HttpResponse:
    claims = _email_claims(token)
    if claims is None:
        return _not_found(request)
    content_url = _email_content_url(token)
    context = {"marketing_email": claims.marketing_email, "content_url": content_url}
    return _page(
        request,
        "preferences/email_view.html",
        context,
        frame_src=[_origin(content_url) or "'self'"],
        form_action=["'none'"],
    )


def _email_framers(request: HttpRequest) -> list[str]:
    """Origins allowed to frame the email: Roster's public origin, and the host of this request when the email is
    served from Roster's own host (no separate EMAIL_VIEW_BASE_URL)."""
    origins = [_origin(settings.PUBLIC_BASE_URL)]
    if not settings.EMAIL_VIEW_BASE_URL:
        origins.append(f"{request.scheme}://{request.get_host()}")
    return [origin for origin in dict.fromkeys(origins) if origin]


_HEAD_TAG = re.compile(r"<head(?:\s[^>]*)?>", re.IGNORECASE)


def _links_open_outside_the_frame(html: str) -> str:
    """Links in an email belong in a new tab, not inside the small frame that shows it."""
    if re.search(r"<base[\s>]", html, re.IGNORECASE):
        return html
    return _HEAD_TAG.sub(lambda match: f'{match[0]}<base target="_blank">', html, count=1)


# Answers stored HTML that anyone with an API key may have written. It must stay inert whatever it holds: the CSP
# sandbox gives it an opaque origin and no script, even when opened outside the frame, and this view reads no session
# or user, so the response sets no cookie.
@require_safe
def email_view_content(request: HttpRequest, token: str) -> HttpResponse:
    claims = _email_claims(token)
    if claims is None:
        response = HttpResponse("Not found.\n", status=404, content_type="text/plain; charset=utf-8")
    else:
        html = _links_open_outside_the_frame(render_email_for(claims.marketing_email, claims.subscriber))
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = _csp(
        {
            "sandbox": EMAIL_CONTENT_SANDBOX,
            "default-src": ["'none'"],
            "img-src": ["*", "data:"],
            "style-src": ["'unsafe-inline'", "*"],
            "font-src": ["*", "data:"],
            "form-action": ["'none'"],
            "frame-ancestors": _email_framers(request),
        }
    )
    if settings.EMAIL_VIEW_BASE_URL:
        # Framed from another origin: X-Frame-Options cannot name it, so frame-ancestors alone decides.
        response.xframe_options_exempt = True
    else:
        response["X-Frame-Options"] = "SAMEORIGIN"
    return _private(response)
