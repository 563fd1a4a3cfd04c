"""The PR list's filters as a form: what the page shows, and the one check of what was sent.

``PRListFilterForm(request.GET, team=team)``: ``dates`` ("created", the default, or "merged":
which date the range applies to), ``start``/``end`` (inclusive days, UTC; the last 30 days by
default), ``state``, ``author`` (a member of this team) and ``repo``. Every rule, and its
message, is the one ``apps.metrics.views.params`` applies to every view's query (a value given
twice, a date outside 1970..2999 or a range over two years, a number that is not ASCII digits
within bigint, control characters, overlong text): Django's own parsing of dates, numbers and
text is not used here, as it takes other formats and words its refusals differently.

The author select and the author check read the team's members once, in one statement, shared
by the page's select and by the validation (``TeamMemberChoiceField``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import ModelChoiceIterator
from django.http import QueryDict

from apps.metrics.models import PullRequest, TeamMember
from apps.metrics.services.pr_list_service import DATE_FIELDS, team_authors
from apps.metrics.views.params import (
    DateRange,
    InvalidParameter,
    parse_choice,
    parse_date_range,
    parse_optional_int,
    parse_text,
    single_value,
)

REPO_MAX_LENGTH = PullRequest._meta.get_field("github_repo").max_length
DATES_CHOICES = [(name, name.capitalize()) for name in DATE_FIELDS]  # Created, Merged


@dataclass(frozen=True)
class PRFilters:
    """The checked filters: what the service reads, and the query string that shows the same rows again."""

    range: DateRange
    state: str | None = None
    author_id: int | None = None
    repo: str | None = None
    dates: str = "created"  # which date the range applies to: DATE_FIELDS

    def service_kwargs(self) -> dict:
        return {
            "state": self.state,
            "author_id": self.author_id,
            "repo": self.repo,
            "start": self.range.start,
            "end": self.range.end,
            "dates": self.dates,
        }

    def as_query(self) -> str:
        """The filters as a query string, dates explicit: a link shows the same rows tomorrow."""
        return urlencode({name: value for name, value in self.form_values().items() if value})

    def form_values(self) -> dict[str, str]:
        """The filters as the form's fields hold them, as text."""
        return {
            "dates": self.dates,
            "start": self.range.start.isoformat(),
            "end": self.range.end.isoformat(),
            "state": self.state or "",
            "author": str(self.author_id or ""),
            "repo": self.repo or "",
        }


class _CheckedByTheForm:
    """A field that renders, and hands its value to the form's ``clean_<name>``/``clean`` unparsed."""

    def clean(self, value):
        return value


class _ChoiceField(_CheckedByTheForm, forms.ChoiceField):
    pass


class _DateField(_CheckedByTheForm, forms.DateField):
    pass


class _CharField(_CheckedByTheForm, forms.CharField):
    pass


class _LoadedMembers(ModelChoiceIterator):
    """The field's choices from the members it has loaded: rendering the select runs no statement of its own."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for member in self.field.members:
            yield self.choice(member)

    def __len__(self):
        return len(self.field.members) + (self.field.empty_label is not None)

    def __bool__(self):
        return self.field.empty_label is not None or bool(self.field.members)


class TeamMemberChoiceField(forms.ModelChoiceField):
    """A member of the team, by id, checked against the members the select lists.

    A ``ModelChoiceField`` re-reads its queryset to render and runs ``queryset.get(pk=...)`` to
    validate; this one reads the queryset once (``members``, one statement, only when needed)
    and both lists and checks from that list.
    """

    iterator = _LoadedMembers

    def __init__(self, queryset, *, name: str, **kwargs):
        self.name = name  # as the messages call it
        super().__init__(queryset, **kwargs)

    def _set_queryset(self, queryset):
        super()._set_queryset(queryset)
        self.__dict__.pop("members", None)

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)

    @functools.cached_property
    def members(self) -> list[TeamMember]:
        return list(self.queryset)

    def label_from_instance(self, member: TeamMember) -> str:
        return member.display_name if member.is_active else f"{member.display_name} (inactive)"

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            member_id = parse_optional_int({self.name: value}, self.name)
        except InvalidParameter as error:
            raise ValidationError(str(error), code="invalid") from None
        member = next((member for member in self.members if member.pk == member_id), None)
        if member is None:
            raise ValidationError(f"{self.name} {member_id} is not a member of this team", code="invalid_choice")
        return member


def _refusal(clean_method):
    """``InvalidParameter`` (params.py's refusal) as the form's ``ValidationError``, with its message."""

    @functools.wraps(clean_method)
    def clean(self):
        try:
            return clean_method(self)
        except InvalidParameter as error:
            raise ValidationError(str(error), code="invalid") from None

    return clean


class PRListFilterForm(forms.Form):
    """The PR list's and the export's filters for one team; ``filters`` once valid."""

    dates = _ChoiceField(
        label="Dates",
        choices=DATES_CHOICES,
        required=False,
        widget=forms.Select(attrs={"title": "Which date From and To apply to"}),
    )
    start = _DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = _DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    state = _ChoiceField(label="State", choices=[("", "All states"), *PullRequest.State.choices], required=False)
    author = TeamMemberChoiceField(
        TeamMember.objects.none(), name="author", label="Author", required=False, empty_label="Everyone"
    )
    repo = _CharField(
        label="Repository",
        max_length=REPO_MAX_LENGTH,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "owner/name"}),
    )

    def __init__(self, data, *, team, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["author"].queryset = team_authors(team)

    @_refusal
    def clean_dates(self):
        return parse_choice(self.data, "dates", DATE_FIELDS, default="created")

    @_refusal
    def clean_state(self):
        return parse_choice(self.data, "state", PullRequest.State.values)

    @_refusal
    def clean_repo(self):
        return parse_text(self.data, "repo", max_length=REPO_MAX_LENGTH)

    def clean(self):
        cleaned = super().clean()
        self._refuse_repeated()
        if not {"start", "end"} & self.errors.keys():
            try:
                date_range = parse_date_range(self.data)
            except InvalidParameter as error:
                self.add_error(_field_named_by(str(error)), str(error))
            else:
                cleaned["start"], cleaned["end"] = date_range.start, date_range.end
        return cleaned

    def _refuse_repeated(self) -> None:
        """A field sent twice has this one error, whatever its values would have given."""
        for name in self.fields:
            try:
                single_value(self.data, name)
            except InvalidParameter as error:
                self.errors.pop(name, None)
                self.add_error(name, str(error))

    @property
    def filters(self) -> PRFilters:
        """The checked filters (only once ``is_valid()``)."""
        if not self.is_valid():
            raise ValueError("the filters are not valid: show the form's errors instead")
        data = self.cleaned_data
        author = data["author"]
        return PRFilters(
            range=DateRange(data["start"], data["end"]),
            state=data["state"],
            author_id=author.pk if author else None,
            repo=data["repo"],
            dates=data["dates"],
        )

    def show_applied(self) -> None:
        """Let the fields show the filters applied (default dates filled in, text stripped), not what was sent."""
        self.data = QueryDict(self.filters.as_query())


def _field_named_by(message: str) -> str | None:
    """The date field a range refusal is about ("start must be a date..."), None for the range itself."""
    name, _, rest = message.partition(" ")
    return name if name in ("start", "end") and rest.startswith("must") else None
