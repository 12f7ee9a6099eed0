from django.urls import path

from . import dev, views
from .sms import twilio

app_name = "messaging"
urlpatterns = [
    path("conversations/", views.thread_list, name="thread-list"),
    path("conversations/<int:pk>/", views.thread_detail, name="thread-detail"),
    path("conversations/<int:pk>/reply/", views.thread_reply, name="thread-reply"),
    path("prospects/<int:pk>/sms/", views.sms_send, name="sms-send"),
    # Twilio: configure the number's "A message comes in" URL and pass status callbacks here.
    path("webhooks/twilio/sms/", twilio.twilio_sms_inbound, name="twilio-sms"),
    path("webhooks/twilio/status/", twilio.twilio_sms_status, name="twilio-status"),
    # Development only (404 unless DEV_TOOLS).
    path("dev/outbox/", dev.dev_outbox, name="dev-outbox"),
    path("dev/outbox/<str:name>/html/", dev.dev_outbox_html, name="dev-outbox-html"),
    path("dev/simulate/", dev.dev_simulate, name="dev-simulate"),
    path("dev/simulate/email/", dev.dev_simulate_email, name="dev-simulate-email"),
    path("dev/simulate/sms/", dev.dev_simulate_sms, name="dev-simulate-sms"),
]
