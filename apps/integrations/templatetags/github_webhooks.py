"""``{% github_webhook_setup team as webhook %}``: the webhook URL (absolute) and secret for the settings page."""

from django import template

from apps.integrations.webhooks import webhook_setup

register = template.Library()


@register.simple_tag(takes_context=True)
def github_webhook_setup(context, team):
    """A dict with ``url``, ``secret``, ``content_type`` and ``events``; None without an integration. One statement."""
    setup = webhook_setup(team)
    if setup is None:
        return None
    request = context.get("request")
    url = request.build_absolute_uri(setup.path) if request is not None else setup.path
    return {"url": url, "secret": setup.secret, "content_type": setup.content_type, "events": setup.events}


@register.simple_tag(takes_context=True)
def github_webhook_url(context, integration_id):
    """The absolute webhook URL of an integration id the page already has: no statement."""
    from django.urls import reverse

    from apps.integrations.webhooks import webhook_id

    path = reverse("integrations:github_webhook", args=[webhook_id(int(integration_id))])
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path
