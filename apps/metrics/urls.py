from django.urls import path

from apps.metrics.views import dashboard_views

app_name = "metrics"

urlpatterns = [
    path("t/<slug:team_slug>/", dashboard_views.dashboard, name="dashboard"),
]
