from django.urls import path

from apps.teams import views

app_name = "teams"

urlpatterns = [
    path("", views.home, name="home"),
    path("teams/new/", views.create_team, name="create"),
    path("t/<slug:team_slug>/settings/", views.team_settings_page, name="settings"),
    path("t/<slug:team_slug>/settings/github/", views.github_access, name="github_access"),
    path("t/<slug:team_slug>/settings/github/app/", views.github_app_access, name="github_app"),
    path("t/<slug:team_slug>/settings/github/remove/", views.remove_token, name="remove_token"),
    path("t/<slug:team_slug>/settings/github/webhook-secret/", views.rotate_webhook, name="rotate_webhook"),
    path("t/<slug:team_slug>/settings/invites/", views.create_invite, name="create_invite"),
    path("t/<slug:team_slug>/settings/repositories/", views.track_repositories, name="track_repositories"),
    path("t/<slug:team_slug>/settings/members/active/", views.member_active, name="member_active"),
    path("t/<slug:team_slug>/settings/sync/", views.sync_now, name="sync_now"),
    path("invite/<str:token>/", views.invite, name="invite"),
]
