from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from tformance import health

# Browsers ask for /favicon.ico even when a page links its icon (the admin's pages link none):
# send them to the static file, under its hashed name in production. Temporary (302), since
# that name changes with the file; lazy, so the manifest is read at the first request.
favicon = login_not_required(RedirectView.as_view(url=lazy(static, str)("teams/favicon.svg")))

urlpatterns = [
    path("favicon.ico", favicon),
    path("healthz", health.healthz, name="healthz"),  # liveness: no database, no login
    path("readyz", health.readyz, name="readyz"),  # readiness: PostgreSQL, Redis, migrations
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("apps.teams.urls")),
    path("", include("apps.metrics.urls")),
    path("", include("apps.integrations.urls")),
    path("surveys/", include("apps.metrics.survey_urls")),
]
