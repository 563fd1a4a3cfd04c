"""Composite indexes for the dashboard's reads (problem 6 of the audit), built without blocking writers.

Every index is built with CREATE INDEX CONCURRENTLY, which takes a lock that inserts, updates and deletes do
not wait for; migrating back drops them with DROP INDEX CONCURRENTLY. Neither can run in a transaction block,
so this migration is not atomic. If a concurrent build fails (say it was cancelled), PostgreSQL leaves an
INVALID index behind: drop it (DROP INDEX CONCURRENTLY <name>) and migrate again.

The audit proposed five indexes; the evidence is in notebooks/06_indexes.ipynb (EXPLAIN ANALYZE at 1M PRs):

- PullRequest (team, state, merged_at): shipped as proposed. Key metrics, the survey ratings, the weekly
  charts and the weekly aggregation read a team's PRs merged in a range through it.
- PullRequest (team, author, merged_at): not shipped as proposed. The team breakdown joins each member to
  their PRs merged in the range with no team condition on the PRs, so no plan can probe an index led by team:
  PostgreSQL 15 left it unused, 18 skip-scanned it through every team, slower than the replacement. The
  statements that do fix the team are served by (team, state, merged_at). Shipped instead: (author, state,
  merged_at), a probe per member that reads only that member's PRs merged in the range.
- PullRequest (team, pr_created_at): shipped as proposed. The PR list and its export read a team's PRs created
  in a range, newest first.
- TeamMember (team, github_username): not shipped. The Copilot lookup compares lower(github_username), which a
  plain index cannot answer; the team_id index (all logins of a sync) or the unique index on
  (team, lower(github_username)) from 0002 (a few logins) serves it. The candidate went unused.
- TeamMember (team, is_active): not shipped. A team has at most a few hundred members, nine in ten active: the
  team_id index already finds them, and the candidate went unused.

The single-column team_id and author_id indexes Django made for the foreign keys are now prefixes of these; they
could be dropped (db_index=False on the fields): migration 0004 drops them.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0002_github_username_case_insensitive"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="pullrequest",
            index=models.Index(fields=["team", "state", "merged_at"], name="pr_team_state_merged_idx"),
        ),
        AddIndexConcurrently(
            model_name="pullrequest",
            index=models.Index(fields=["author", "state", "merged_at"], name="pr_author_state_merged_idx"),
        ),
        AddIndexConcurrently(
            model_name="pullrequest",
            index=models.Index(fields=["team", "pr_created_at"], name="pr_team_created_idx"),
        ),
    ]
