from django.urls import path

from apps.integrations import views

app_name = "integrations"

urlpatterns = [
    path("webhooks/github/<str:webhook_id>/", views.github_webhook, name="github_webhook"),
]
