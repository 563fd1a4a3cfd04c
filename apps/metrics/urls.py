from django.urls import path

from apps.metrics.views import chart_views, dashboard_views, pr_list_views

app_name = "metrics"

urlpatterns = [
    path("t/<slug:team_slug>/", dashboard_views.dashboard, name="dashboard"),
    path("t/<slug:team_slug>/cards/", chart_views.key_metrics_cards, name="key_metrics_cards"),
    path("t/<slug:team_slug>/charts/cycle-time.json", chart_views.cycle_time_chart, name="chart_cycle_time"),
    path("t/<slug:team_slug>/charts/ai-share.json", chart_views.ai_share_chart, name="chart_ai_share"),
    path("t/<slug:team_slug>/charts/pr-sizes.json", chart_views.pr_size_chart, name="chart_pr_sizes"),
    path("t/<slug:team_slug>/prs/", pr_list_views.pr_list, name="pr_list"),
    path("t/<slug:team_slug>/prs/export.csv", pr_list_views.pr_list_export, name="pr_list_export"),
]
