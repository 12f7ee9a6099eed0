from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render

from apps.teams.models import Membership


@login_required
def home(request):
    membership = Membership.objects.select_related("team").filter(user=request.user).first()
    if membership is None and request.user.is_staff:
        return redirect("admin:index")
    return render(request, "core/home.html", {"membership": membership})


def healthz(request):
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
