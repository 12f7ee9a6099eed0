"""Support staff's Greenhouse pages in the Django admin, one module per group of models:
connections and user mappings (integrations.py), the switch history (switch_history.py), the sync
log and dashboard (sync_records.py), backfills (backfills.py), candidates' links, bot emails and
pauses (candidates.py), the review queue's actions and creations (review.py), the teams'
exclusion lists (exclusions.py), the review of sensitive mail (sensitive.py), and the alerts to
team admins (alerts.py). Importing the package registers them all."""

from . import (
    alerts,
    backfills,
    candidates,
    exclusions,
    integrations,
    review,
    sensitive,
    switch_history,
    sync_records,
)
from .sync_records import CappedPaginator, SyncRecordAdmin

__all__ = [
    "CappedPaginator",
    "SyncRecordAdmin",
    "alerts",
    "backfills",
    "candidates",
    "exclusions",
    "integrations",
    "review",
    "sensitive",
    "switch_history",
    "sync_records",
]
