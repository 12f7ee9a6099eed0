"""Role checks for views. Every team-facing view goes through one of these decorators.

Objects of another team answer 404 (their existence is not revealed); the wrong role answers 403.
`membership_for(user)` is the one lookup of a user's team and role (the core app's nav and home
page use it too, through the hook this app registers in apps.core.extensions).
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from .models import Membership


def membership_for(user) -> Membership | None:
    """The user's membership, with its team; None when anonymous or in no team."""
    if user is None or not user.is_authenticated:
        return None
    return Membership.objects.select_related("team").filter(user=user).first()


def _with_membership(view, *, admin_only: bool):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        membership = membership_for(request.user)
        if membership is None:
            raise PermissionDenied("You are not a member of a team.")
        if admin_only and not membership.is_admin:
            raise PermissionDenied("Only team admins can do this.")
        request.membership = membership
        request.team = membership.team
        return view(request, *args, **kwargs)

    return wrapper


def team_member_required(view):
    return _with_membership(view, admin_only=False)


def team_admin_required(view):
    return _with_membership(view, admin_only=True)


def get_for_team_or_404(queryset, team, **lookup):
    """Fetch one object of `team`; another team's object is indistinguishable from a missing one."""
    return get_object_or_404(queryset, team=team, **lookup)
