from django.urls import path

from apps.teams import views

app_name = "teams"

urlpatterns = [
    path("", views.home, name="home"),
    path("t/<slug:team_slug>/", views.team_overview, name="overview"),
]
