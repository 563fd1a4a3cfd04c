from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin

from apps.teams.models import Invite, Membership, Team


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "team"]
    raw_id_fields = ["user", "team"]


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ["team", "email", "created_by", "created_at", "expires_at", "used_at", "used_by"]
    list_select_related = ["team", "created_by", "used_by"]
    raw_id_fields = ["team", "created_by", "used_by"]
    search_fields = ["team__name", "email"]


# django-axes' admins (AccessAttempt: delete a row to unlock a login), without their date drill-down: Django turns
# ?attempt_time__year=<20 digits> into an OverflowError, a 500 (tests/test_hostile_input.py sends exactly that).
for axes_model, axes_admin in [
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
]:
    if admin.site.is_registered(axes_model):  # as axes registered them (AXES_ENABLE_ADMIN)
        admin.site.unregister(axes_model)
        admin.site.register(axes_model, type(axes_admin.__name__, (axes_admin,), {"date_hierarchy": None}))
