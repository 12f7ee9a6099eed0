from django.contrib.auth.decorators import login_required
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


def healthz(request):
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
