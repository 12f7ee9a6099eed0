from django.urls import path

from . import views

app_name = "greenhouse"
urlpatterns = [
    path("greenhouse/settings/", views.sync_settings, name="settings"),
    # In the bot email; no login needed (the signed token is the authorization to pause).
    path("greenhouse/pause/<str:token>/", views.pause_link, name="pause-link"),
    path("greenhouse/prospects/<int:pk>/", views.prospect_sync, name="prospect-sync"),
    path("greenhouse/prospects/<int:pk>/pause/", views.prospect_pause, name="prospect-pause"),
    path("greenhouse/prospects/<int:pk>/resume/", views.prospect_resume, name="prospect-resume"),
]
