from django.urls import path

from .views import candidate, pause, sensitive, team

app_name = "greenhouse"
urlpatterns = [
    # Team admins (Team settings tabs).
    path("team/greenhouse/", team.connection, name="connection"),
    path("team/greenhouse/test/", team.connection_test, name="connection-test"),
    path("team/greenhouse/sync/", team.sync_settings, name="settings"),
    path("team/greenhouse/users/", team.user_mappings, name="users"),
    path("team/greenhouse/users/refresh/", team.user_mappings_refresh, name="users-refresh"),
    path("team/greenhouse/users/<int:user_id>/set/", team.user_mapping_set, name="user-set"),
    path("team/greenhouse/users/<int:user_id>/reset/", team.user_mapping_reset, name="user-reset"),
    path("team/greenhouse/log/", team.sync_log, name="log"),
    path("team/greenhouse/log/<int:pk>/retry/", team.sync_record_retry, name="record-retry"),
    # Recruiters: a candidate's messages with their sync status, and the pause switch.
    path("prospects/<int:pk>/sync/", candidate.prospect_sync, name="prospect-sync"),
    path("prospects/<int:pk>/sync/pause/", candidate.prospect_pause, name="prospect-pause"),
    path("prospects/<int:pk>/sync/resume/", candidate.prospect_resume, name="prospect-resume"),
    # Sensitive mail waiting for its recruiter (issue 16); the rules are the team admin's.
    path("reviews/", sensitive.reviews, name="sensitive-reviews"),
    path("reviews/<int:pk>/", sensitive.review_detail, name="sensitive-review"),
    path("reviews/<int:pk>/approve/", sensitive.review_approve, name="sensitive-review-approve"),
    path("reviews/<int:pk>/drop/", sensitive.review_drop, name="sensitive-review-drop"),
    path("team/greenhouse/sync/review/", sensitive.review_rules, name="sensitive-review-rules"),
    # In the bot email; no login needed (the signed token is the authorization to pause).
    # Links already sent point here: never move it.
    path("greenhouse/pause/<str:token>/", pause.pause_link, name="pause-link"),
]
