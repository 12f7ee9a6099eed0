from django.urls import path

from . import views

app_name = "greenhouse"
urlpatterns = [
    # Team admins (Team settings tabs).
    path("team/greenhouse/", views.connection, name="connection"),
    path("team/greenhouse/test/", views.connection_test, name="connection-test"),
    path("team/greenhouse/sync/", views.sync_settings, name="settings"),
    path("team/greenhouse/users/", views.user_mappings, name="users"),
    path("team/greenhouse/users/refresh/", views.user_mappings_refresh, name="users-refresh"),
    path("team/greenhouse/users/<int:user_id>/set/", views.user_mapping_set, name="user-set"),
    path("team/greenhouse/users/<int:user_id>/reset/", views.user_mapping_reset, name="user-reset"),
    path("team/greenhouse/log/", views.sync_log, name="log"),
    path("team/greenhouse/log/<int:pk>/retry/", views.sync_record_retry, name="record-retry"),
    # Recruiters: a candidate's messages with their sync status, and the pause switch.
    path("prospects/<int:pk>/sync/", views.prospect_sync, name="prospect-sync"),
    path("prospects/<int:pk>/sync/pause/", views.prospect_pause, name="prospect-pause"),
    path("prospects/<int:pk>/sync/resume/", views.prospect_resume, name="prospect-resume"),
    # In the bot email; no login needed (the signed token is the authorization to pause).
    # Links already sent point here: never move it.
    path("greenhouse/pause/<str:token>/", views.pause_link, name="pause-link"),
]
