"""The verify page of support staff's second factor (see two_factor.py)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .forms import SecondFactorForm
from .two_factor import staff_second_factor_required, staff_session_verify, staff_totp_device


def _next_url(request) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if safe else reverse("admin:index")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def second_factor(request):
    user = request.user
    if not user.is_staff:
        return redirect("home")
    next_url = _next_url(request)
    if not staff_second_factor_required(user) or user.is_verified():
        return redirect(next_url)
    device = staff_totp_device(user=user)
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and device is not None and form.is_valid():
        error = staff_session_verify(request=request, code=form.cleaned_data["code"])
        if error is None:
            return redirect(next_url)
        form.add_error("code", error)
    return render(
        request,
        "accounts/second_factor.html",
        {"device": device, "form": form, "next": next_url},
        status=200 if device is not None else 403,
    )
