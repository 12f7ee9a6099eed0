"""Support staff's authenticator apps in the admin: who has one, and removing a lost one.

django-otp's own page for TOTP devices can create a device with a key typed in by whoever
adds it; ours cannot create one and never shows or changes a key. A device removed here stops
verifying at once; its owner enrols again with `manage.py staff_totp_enroll`.
"""

from django.contrib import admin
from django_otp.plugins.otp_totp.models import TOTPDevice

admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class StaffTotpDeviceAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = ("user", "confirmed", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False
