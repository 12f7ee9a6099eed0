from django.urls import path

from . import views

app_name = "teams"
urlpatterns = [
    path("team/settings/", views.team_settings, name="settings"),
]
