from django.urls import path

from apps.metrics.views import card_views, chart_views, dashboard_views, member_views, pr_list_views

app_name = "metrics"

# which of chart_views.CHARTS a chart URL serves
CYCLE_TIME, AI_SHARE, PR_SIZES = {"chart": "cycle-time"}, {"chart": "ai-share"}, {"chart": "pr-sizes"}
COPILOT_USERS, COPILOT_ACCEPTANCE = {"chart": "copilot-users"}, {"chart": "copilot-acceptance"}

urlpatterns = [
    path("t/<slug:team_slug>/", dashboard_views.dashboard, name="dashboard"),
    path("t/<slug:team_slug>/cards/", card_views.key_metrics_cards, name="key_metrics_cards"),
    path("t/<slug:team_slug>/charts/cycle-time.json", chart_views.chart_json, CYCLE_TIME, name="chart_cycle_time"),
    path("t/<slug:team_slug>/charts/ai-share.json", chart_views.chart_json, AI_SHARE, name="chart_ai_share"),
    path("t/<slug:team_slug>/charts/pr-sizes.json", chart_views.chart_json, PR_SIZES, name="chart_pr_sizes"),
    path(
        "t/<slug:team_slug>/charts/copilot-users.json",
        chart_views.chart_json,
        COPILOT_USERS,
        name="chart_copilot_users",
    ),
    path(
        "t/<slug:team_slug>/charts/copilot-acceptance.json",
        chart_views.chart_json,
        COPILOT_ACCEPTANCE,
        name="chart_copilot_acceptance",
    ),
    # the same figures as tables: the dashboard's fallback without JavaScript
    path("t/<slug:team_slug>/charts/cycle-time.html", chart_views.chart_table, CYCLE_TIME, name="table_cycle_time"),
    path("t/<slug:team_slug>/charts/ai-share.html", chart_views.chart_table, AI_SHARE, name="table_ai_share"),
    path("t/<slug:team_slug>/charts/pr-sizes.html", chart_views.chart_table, PR_SIZES, name="table_pr_sizes"),
    path(
        "t/<slug:team_slug>/charts/copilot-users.html",
        chart_views.chart_table,
        COPILOT_USERS,
        name="table_copilot_users",
    ),
    path(
        "t/<slug:team_slug>/charts/copilot-acceptance.html",
        chart_views.chart_table,
        COPILOT_ACCEPTANCE,
        name="table_copilot_acceptance",
    ),
    path("t/<slug:team_slug>/m/<int:member_id>/", member_views.member, name="member"),
    path("t/<slug:team_slug>/prs/", pr_list_views.pr_list, name="pr_list"),
    path("t/<slug:team_slug>/prs/export.csv", pr_list_views.pr_list_export, name="pr_list_export"),
]
