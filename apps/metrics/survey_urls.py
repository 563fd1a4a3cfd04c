"""Survey links (``/surveys/<token>/``): a signed token instead of a team in the URL, no login needed to answer."""

from django.urls import path

from apps.metrics.views import survey_views

app_name = "surveys"

urlpatterns = [
    path("<str:token>/", survey_views.survey, name="answer"),
    path("<str:token>/me/", survey_views.link_me, name="link_me"),
]
