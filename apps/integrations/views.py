"""GitHub's webhook deliveries: the interface over ``apps.integrations.webhooks.handle_delivery``."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.integrations.webhooks import WebhookError, handle_delivery, read_body


@csrf_exempt  # the signature (X-Hub-Signature-256) is this view's authentication
@login_not_required
@require_POST
def github_webhook(request, webhook_id: str):
    try:
        body = read_body(request, request.META.get("CONTENT_LENGTH"))
        result = handle_delivery(endpoint_id=webhook_id, body=body, headers=request.headers)
    except WebhookError as exc:
        return JsonResponse({"error": str(exc)}, status=exc.status)
    if result.status == 204:
        return HttpResponse(status=204)
    return JsonResponse({"detail": result.detail, "stored": result.stored, "replay": result.replay})
