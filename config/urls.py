from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from apps.messaging.webhooks import anymail_urlpatterns, esp_in_use

admin.site.site_header = "Outreach support console"
admin.site.site_title = "Outreach support"
admin.site.index_title = "Teams, messages and Greenhouse sync"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("apps.accounts.urls")),
    # ESP webhooks: /anymail/<esp>/inbound/ and /anymail/<esp>/tracking/ (basic auth required),
    # for the ESP in use only (ANYMAIL_ESP); every other ESP's URL is a 404.
    path("anymail/", include(anymail_urlpatterns(esp=esp_in_use()))),
    path("", include("apps.teams.urls")),
    path("", include("apps.sequences.urls")),
    path("", include("apps.messaging.urls")),
    path("", include("apps.greenhouse.urls")),
    path("", include("apps.core.urls")),
]
