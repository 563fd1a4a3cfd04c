from django.apps import AppConfig


class PerflabConfig(AppConfig):
    name = "apps.perflab"
    label = "perflab"
    default_auto_field = "django.db.models.BigAutoField"
