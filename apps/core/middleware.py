"""Request body size: Django's usual 2.5 MB everywhere, more only where a view asks for it.

A reply to an outreach email often carries an ordinary attachment, and the ESP posts the whole
message to our inbound webhook (JSON with base64 attachments: a third larger than the mail).
Django's one global limit, DATA_UPLOAD_MAX_MEMORY_SIZE, is therefore raised to the inbound
maximum in settings, and this middleware keeps every other view at REQUEST_BODY_MAX_BYTES, so
that the login page or the admin do not start reading 50 MB bodies into memory. A view that
checks its own size (the inbound webhook) is marked with `checks_own_request_size`.

It runs before CsrfViewMiddleware, which reads the POST body of every view it protects.
"""

from django.conf import settings
from django.http import HttpResponse


def request_content_length(request) -> int:
    """The declared body size; as Django does, an unreadable CONTENT_LENGTH counts as 0 (Django
    then reads no body at all)."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except (TypeError, ValueError):
        return 0


def checks_own_request_size(view):
    """Mark a view that enforces its own body size limit (the middleware lets it through)."""
    view.checks_own_request_size = True
    return view


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "checks_own_request_size", False):
            return None
        limit = settings.REQUEST_BODY_MAX_BYTES
        if request_content_length(request) > limit:
            return HttpResponse(
                f"Request body too large (at most {limit} bytes).",
                status=413,
                content_type="text/plain",
            )
        return None
