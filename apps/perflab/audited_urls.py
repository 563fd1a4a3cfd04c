"""The site's URLs with the dashboard answered by the audited reads (``pages.audited_dashboard``).

The audited route comes first, so it answers the dashboard's path; it has no name, so every
``{% url %}`` still reverses to the site's own routes, which give the same paths.
"""

from django.urls import path

from apps.metrics.views.dashboard_views import make_dashboard_view
from apps.perflab.pages import AUDITED_READS
from tformance.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    path("t/<slug:team_slug>/", make_dashboard_view(AUDITED_READS)),
    *site_urlpatterns,
]
