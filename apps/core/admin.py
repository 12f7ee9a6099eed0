from django.contrib import admin

from .models import WorkerPing


@admin.register(WorkerPing)
class WorkerPingAdmin(admin.ModelAdmin):
    list_display = ("id", "requested_at", "requested_by", "answered_at", "answered_by", "latency")
    list_filter = ("requested_by", ("answered_at", admin.EmptyFieldListFilter))
    readonly_fields = ("requested_at", "requested_by", "answered_at", "answered_by")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
