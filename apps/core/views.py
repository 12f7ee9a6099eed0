import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from .extensions import membership_of
from .metrics import metrics_exposition


@login_required
def home(request):
    membership = membership_of(request)
    if membership is None and request.user.is_staff:
        return redirect("admin:index")
    return render(request, "core/home.html", {"membership": membership})


def healthz(request):
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def _metrics_access(request) -> int:
    """200 for the scrape token or a support staff session, 403 for a wrong token, else 404."""
    header = request.headers.get("Authorization", "")
    token = settings.METRICS_TOKEN
    if header:
        scheme, _, offered = header.partition(" ")
        if (
            token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(offered.strip().encode(), token.encode())
        ):
            return 200
        return 403
    user = request.user
    if user.is_active and user.is_staff:
        # As the admin asks: a verified second factor when STAFF_REQUIRE_2FA is on.
        verified = getattr(user, "is_verified", lambda: False)
        if not settings.STAFF_REQUIRE_2FA or verified():
            return 200
        return 403
    return 404


@require_safe
def metrics(request):
    """Prometheus scrape (apps/core/metrics.py): every figure read from the database and broker."""
    status = _metrics_access(request)
    if status == 404:
        raise Http404
    if status == 403:
        return HttpResponseForbidden("Not allowed to read the metrics.")
    response = HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
