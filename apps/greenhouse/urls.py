from django.urls import path

from .views import backfill, candidate, exclusions, pause, review, sensitive, team, thread

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
    path("team/greenhouse/exclusions/", exclusions.exclusions, name="exclusions"),
    path("team/greenhouse/log/", team.sync_log, name="log"),
    path("team/greenhouse/log/<int:pk>/retry/", team.sync_record_retry, name="record-retry"),
    # Team admins: backfills (the dry run is a GET that changes nothing; the run a POST).
    path("team/greenhouse/sync/backfill/", backfill.backfill_team, name="backfill"),
    path("team/greenhouse/sync/backfill/run/", backfill.backfill_start, name="backfill-run"),
    path("team/greenhouse/sync/backfill/lookup/", backfill.backfill_lookup, name="backfill-lookup"),
    path(
        "team/greenhouse/sync/backfill/<int:pk>/", backfill.backfill_detail, name="backfill-detail"
    ),
    path("prospects/<int:pk>/sync/backfill/", backfill.backfill_prospect, name="prospect-backfill"),
    # Recruiters: a candidate's messages with their sync status, and the pause switch.
    path("prospects/<int:pk>/sync/", candidate.prospect_sync, name="prospect-sync"),
    path("prospects/<int:pk>/sync/pause/", candidate.prospect_pause, name="prospect-pause"),
    path("prospects/<int:pk>/sync/resume/", candidate.prospect_resume, name="prospect-resume"),
    # The review queue (team admins: the team's prospects; recruiters: their own).
    path("greenhouse/review/", review.review_queue, name="review"),
    path("greenhouse/review/tag/", review.review_tag_set, name="review-tag"),
    path(
        "greenhouse/review/<int:pk>/candidates/",
        review.review_candidates_show,
        name="review-candidates",
    ),
    path("greenhouse/review/<int:pk>/link/", review.review_link, name="review-link"),
    path("greenhouse/review/<int:pk>/create/", review.review_create, name="review-create"),
    path("greenhouse/review/<int:pk>/ignore/", review.review_ignore, name="review-ignore"),
    path("greenhouse/review/<int:pk>/unignore/", review.review_unignore, name="review-unignore"),
    # The thread's owner or a team admin: one thread's own visibility for its later notes.
    path("conversations/<int:pk>/visibility/", thread.thread_visibility, name="thread-visibility"),
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
