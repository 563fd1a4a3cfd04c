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
