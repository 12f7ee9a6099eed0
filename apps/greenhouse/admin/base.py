"""What the support console's read-only pages share: logs are read in the admin, and changed
only through services (the admin actions)."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Logs: support staff read them; changes go through services (actions)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
