"""Survey links: the author's and each reviewer's answer page, reached without login, and "this is me".

``survey`` (GET, POST): the PR and the form for the person the link names, pre-filled with their current answer;
a valid POST stores it (``answer_as_author`` / ``answer_as_reviewer``, one statement) and redirects back, a bad one
re-renders with the reason (400), nothing written. ``link_me`` (POST, signed in): the link's member becomes the
user's, so their open surveys show on their home page. A forged, expired, foreign or closed link answers
``link_refused.html`` with the reason (400, 404 or 410) and writes nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.metrics.forms import AuthorAnswerForm, ReviewerAnswerForm
from apps.metrics.services import survey_service
from apps.teams.services import is_member


def _refused(request, reason: str, status: int):
    return render(
        request, "link_refused.html", {"link_kind": "survey", "reason": reason, "nothing_saved": True}, status=status
    )


@login_not_required
@require_http_methods(["GET", "POST"])
def survey(request, token: str):
    """Statements: reading the link (one), plus one for a signed-in user (may they say "this is me"?), plus the
    answer's one on a valid POST."""
    try:
        link = survey_service.read_survey_link(token)
    except survey_service.SurveyLinkRefused as refused:
        return _refused(request, refused.reason, refused.status)
    form_class = AuthorAnswerForm if link.is_author else ReviewerAnswerForm
    if request.method == "GET":
        return _survey_page(request, link, form_class(initial=form_class.initial_for(link)))
    form = form_class(request.POST)
    if not form.is_valid():
        return _survey_page(request, link, form, status=400)
    answer = form.cleaned_data
    try:
        if link.is_author:
            survey_service.answer_as_author(link.survey, ai_assisted=answer["ai_assisted"])
        else:
            survey_service.answer_as_reviewer(link.review, quality=answer["quality"], ai_guess=answer["ai_guess"])
    except survey_service.SurveyClosed as closed:  # it closed between the page and the answer
        return _refused(request, closed.reason, closed.status)
    messages.success(
        request, f"Thank you: your answer is saved. You can change it until {link.closes_at:%Y-%m-%d} UTC."
    )
    return redirect("surveys:answer", token)


def _survey_page(request, link, form, *, status: int = 200):
    member, user = link.member, request.user
    signed_in = user.is_authenticated and member is not None
    context = {
        "link": link,
        "survey": link.survey,
        "pull_request": link.survey.pull_request,
        "team": link.survey.team,
        "member": member,
        "form": form,
        "answered": (link.survey.author_responded_at if link.is_author else link.review.responded_at) is not None,
        "is_me": signed_in and member.user_id == user.pk,
        "can_link_me": signed_in and member.user_id is None and is_member(user, link.survey.team),
    }
    return render(request, "metrics/survey.html", context, status=status)


@require_POST
def link_me(request, token: str):
    """ "This is me": signed in (the site's login rule), a member of the link's team, the member not someone else's."""
    try:
        link = survey_service.read_survey_link(token)
        member = survey_service.link_member_to_user(link=link, user=request.user)
    except (survey_service.SurveyLinkRefused, survey_service.MemberLinkRefused) as refused:
        return _refused(request, refused.reason, refused.status)
    messages.success(request, f"Your account is now linked to {member.display_name}: their open surveys show here.")
    return redirect("teams:home")
