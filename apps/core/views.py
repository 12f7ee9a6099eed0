from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles.storage import staticfiles_storage
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render

from .extensions import membership_of


@login_required
def home(request):
    membership = membership_of(request)
    if membership is None and request.user.is_staff:
        return redirect("admin:index")
    return render(request, "core/home.html", {"membership": membership})


def favicon(request):
    """/favicon.ico, which browsers and tools ask for whatever the page links: the static icon
    (pages link it too), rather than a 404 logged on every visit."""
    return redirect(staticfiles_storage.url("img/favicon.svg"), permanent=True)


def healthz(request):
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
