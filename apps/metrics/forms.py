"""The metrics app's forms: shapes only; the services write."""

from __future__ import annotations

from django import forms

YES_NO = [("yes", "Yes"), ("no", "No")]
QUALITY = [
    ("1", "1 · Needs work: it needed significant changes"),
    ("2", "2 · Good: minor comments at most"),
    ("3", "3 · Great: clear, well tested, easy to review"),
]


def _yes_no(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=YES_NO,
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
        error_messages={"required": "Answer yes or no.", "invalid_choice": "Answer yes or no."},
    )


def _as_yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


class OneValueForm(forms.Form):
    """Refuses a field sent more than once (``?x=1&x=3``): which one was meant is not ours to guess."""

    def clean(self):
        cleaned = super().clean()
        getlist = getattr(self.data, "getlist", None)
        for name in self.fields if getlist else ():
            if len(getlist(name)) > 1:
                self.add_error(name, "Send one answer, not several.")
        return cleaned


class AuthorAnswerForm(OneValueForm):
    """The author's answer: was this PR AI-assisted?"""

    ai_assisted = _yes_no("Was this pull request AI-assisted (Copilot, Cursor, a chat assistant...)?")

    @classmethod
    def initial_for(cls, link) -> dict:
        return {"ai_assisted": _as_yes_no(link.survey.author_ai_assisted)}


class ReviewerAnswerForm(OneValueForm):
    """A reviewer's answer: the PR's quality (1..3) and a guess whether it was AI-assisted."""

    quality = forms.TypedChoiceField(
        label="How good was this pull request to review?",
        choices=QUALITY,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a rating: 1, 2 or 3.", "invalid_choice": "Choose a rating: 1, 2 or 3."},
    )
    ai_guess = _yes_no("Do you think it was AI-assisted?")

    @classmethod
    def initial_for(cls, link) -> dict:
        rating = link.review.quality_rating
        return {"quality": None if rating is None else str(rating), "ai_guess": _as_yes_no(link.review.ai_guess)}
