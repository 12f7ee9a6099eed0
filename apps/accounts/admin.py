"""Support staff's authenticator apps in the admin: who has one, and removing a lost one.

The page cannot create a device (a key typed in by whoever adds it would be known to them) and
never shows or changes a key: the encrypted key column is not a field of the form, and nothing
here decrypts it. A device removed here stops verifying at once; its owner enrols again with
`manage.py staff_totp_enroll`.
"""

from django.contrib import admin

from .models import StaffTotpDevice


@admin.register(StaffTotpDevice)
class StaffTotpDeviceAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = ("user", "confirmed", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False
