from django.contrib import admin

from api.models import ApiJob


@admin.register(ApiJob)
class ApiJobAdmin(admin.ModelAdmin):
    list_display = ["public_id", "kind", "status", "owner", "total", "processed", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    search_fields = ["public_id", "owner__email"]
    readonly_fields = [field.name for field in ApiJob._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
