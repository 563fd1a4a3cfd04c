"""The same answers in hand-written SQL: the floor each ORM implementation is measured against.

A fix is fast enough when it is close to what a careful person would write by hand; the
budgets say how close (the team breakdown: at most 1.5x this floor). Each function returns
exactly what the shipped service returns, rounded by the same helpers.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection

from apps.metrics.models.team import avatar_url_for
from apps.metrics.services.dates import range_bounds
from apps.metrics.services.numbers import percent, two_places
from apps.metrics.services.percentiles import from_scaled

_TEAM_BREAKDOWN_SQL = """
WITH merged AS (
    SELECT pr.id, pr.author_id, pr.cycle_time_hours, pr.review_time_hours
    FROM metrics_pullrequest pr
    WHERE pr.team_id = %(team)s AND pr.state = 'merged'
      AND pr.merged_at >= %(lower)s AND pr.merged_at < %(upper)s AND pr.author_id IS NOT NULL
), pr_stats AS (
    SELECT merged.author_id,
           count(*) AS prs_merged,
           avg(merged.cycle_time_hours) AS avg_cycle,
           avg(merged.review_time_hours) AS avg_review,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY merged.cycle_time_hours * 100) AS median_cycle,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY merged.review_time_hours * 100) AS median_review,
           count(s.id) FILTER (WHERE s.author_ai_assisted IS NOT NULL) AS answered,
           count(s.id) FILTER (WHERE s.author_ai_assisted) AS ai
    FROM merged LEFT JOIN metrics_prsurvey s ON s.pull_request_id = merged.id
    GROUP BY merged.author_id
), ratings AS (
    SELECT merged.author_id, avg(r.quality_rating) AS rating
    FROM merged
    JOIN metrics_prsurvey s ON s.pull_request_id = merged.id
    JOIN metrics_prsurveyreview r ON r.survey_id = s.id
    GROUP BY merged.author_id
)
SELECT m.id, m.display_name, m.github_username, m.github_id,
       coalesce(ps.prs_merged, 0), ps.avg_cycle, ps.avg_review, ps.median_cycle, ps.median_review,
       coalesce(ps.answered, 0), coalesce(ps.ai, 0), ra.rating
FROM metrics_teammember m
LEFT JOIN pr_stats ps ON ps.author_id = m.id
LEFT JOIN ratings ra ON ra.author_id = m.id
WHERE m.team_id = %(team)s AND (m.is_active OR ps.prs_merged > 0)
ORDER BY m.display_name, m.id
"""

_KEY_METRICS_SQL = """
WITH merged AS (
    SELECT pr.id, pr.cycle_time_hours, pr.review_time_hours
    FROM metrics_pullrequest pr
    WHERE pr.team_id = %(team)s AND pr.state = 'merged' AND pr.merged_at >= %(lower)s AND pr.merged_at < %(upper)s
)
SELECT (SELECT count(*) FROM merged),
       (SELECT avg(cycle_time_hours) FROM merged),
       (SELECT avg(review_time_hours) FROM merged),
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY cycle_time_hours * 100) FROM merged),
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY review_time_hours * 100) FROM merged),
       (SELECT count(*) FROM merged JOIN metrics_prsurvey s ON s.pull_request_id = merged.id
         WHERE s.author_ai_assisted IS NOT NULL),
       (SELECT count(*) FROM merged JOIN metrics_prsurvey s ON s.pull_request_id = merged.id
         WHERE s.author_ai_assisted),
       (SELECT avg(r.quality_rating) FROM merged
         JOIN metrics_prsurvey s ON s.pull_request_id = merged.id
         JOIN metrics_prsurveyreview r ON r.survey_id = s.id)
"""


def _bounds(team, start: dt.date, end: dt.date) -> dict:
    lower, upper = range_bounds(start, end)
    return {"team": team.id, "lower": lower, "upper": upper}


def team_breakdown_sql(team, start_date: dt.date, end_date: dt.date) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(_TEAM_BREAKDOWN_SQL, _bounds(team, start_date, end_date))
        rows = cursor.fetchall()
    return [
        {
            "member_id": member_id,
            "display_name": display_name,
            "github_username": username,
            "avatar_url": avatar_url_for(username, github_id),
            "prs_merged": prs_merged,
            "avg_cycle_time": two_places(avg_cycle),
            "avg_review_time": two_places(avg_review),
            "median_cycle_time": from_scaled(median_cycle, 100),
            "median_review_time": from_scaled(median_review, 100),
            "ai_assisted_pct": percent(ai, answered),
            "avg_quality_rating": two_places(rating),
        }
        for (
            member_id, display_name, username, github_id, prs_merged, avg_cycle, avg_review, median_cycle,
            median_review, answered, ai, rating,
        ) in rows
    ]


def key_metrics_sql(team, start_date: dt.date, end_date: dt.date) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(_KEY_METRICS_SQL, _bounds(team, start_date, end_date))
        prs_merged, avg_cycle, avg_review, median_cycle, median_review, answered, ai, rating = cursor.fetchone()
    return {
        "prs_merged": prs_merged,
        "avg_cycle_time": two_places(avg_cycle),
        "avg_review_time": two_places(avg_review),
        "median_cycle_time": from_scaled(median_cycle, 100),
        "median_review_time": from_scaled(median_review, 100),
        "ai_assisted_pct": percent(ai, answered),
        "avg_quality_rating": two_places(rating),
    }
