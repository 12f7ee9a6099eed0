"""The project's URLs plus `/_bench/trivial/`, the baseline of the webhook benchmark. Loaded only
by bench.settings (the benchmark's own gunicorn); config.urls never includes it."""

from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def trivial(request):
    """The cheapest Django view: the same middleware, no database."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("_bench/trivial/", trivial),
    path("", include("config.urls")),
]
