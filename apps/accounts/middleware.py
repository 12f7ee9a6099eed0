"""Two rules for signed-in users, on every request.

- Support staff reach the Django admin (every team's data) only in a session verified with their
  second factor, when STAFF_REQUIRE_2FA is on. Until then each admin URL sends them to the
  verify page, which returns them where they were going. Logging out of the admin stays open.
- What a signed-in user is shown is theirs: `Cache-Control: private, no-store` keeps it out of
  shared caches (proxies, CDNs) and out of the browser's cache once they log out.
"""

from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from django.utils.cache import patch_cache_control

from .two_factor import staff_second_factor_required


class StaffSecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._must_verify(request):
            return redirect_to_login(
                request.get_full_path(), reverse("accounts:second-factor"), "next"
            )
        return self.get_response(request)

    @staticmethod
    def _must_verify(request) -> bool:
        admin_root = reverse("admin:index")
        if not request.path.startswith(admin_root) or request.path == reverse("admin:logout"):
            return False
        user = request.user
        return staff_second_factor_required(user) and not user.is_verified()


class PrivateCacheMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response
