"""The project's URLs plus the baselines of the webhook benchmark: `/_bench/trivial/` (no
database) and `/_bench/commit/` (the webhook's durable INSERT alone, nothing else). Loaded only
by bench.settings (the benchmark's own gunicorn); config.urls never includes them."""

import uuid

from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def trivial(request):
    """The cheapest Django view: the same middleware, no database."""
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
def durable_commit(request):
    """The floor of any webhook that stores its request before answering: the Twilio webhook's
    INSERT ... ON CONFLICT DO NOTHING of an InboundEvent (`insert_ignoring_duplicate`, one
    durable commit), with no form parsing, no signature check and no wake-up."""
    from apps.messaging.models import Channel, InboundEvent

    InboundEvent.insert_ignoring_duplicate(
        provider="bench-floor",
        channel=Channel.SMS,
        provider_event_id=uuid.uuid4().hex,
        payload={"Body": "Reply: sounds good, let's talk on Tuesday afternoon."},
    )
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("_bench/trivial/", trivial),
    path("_bench/commit/", durable_commit),
    path("", include("config.urls")),
]
