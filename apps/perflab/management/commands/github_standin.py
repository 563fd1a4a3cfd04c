"""Serve the loopback GitHub stand-in in the foreground, for the demo: a team connects to it in the browser.

    python manage.py github_standin            # organisation "acme", token "demo_token", on port 8765

Point the web server (and a Celery worker) at it with ``GITHUB_API_URL=http://127.0.0.1:8765``. Its history
ends now, so a synced team's dashboard has the last 90 days to show.
"""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand

from apps.perflab.github_stub import GitHubStub


class Command(BaseCommand):
    help = "Serve the loopback GitHub stand-in (organisation, members, repositories, pull requests) until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--org", default="acme", help="the organisation's login (default: acme)")
        parser.add_argument("--token", default="demo_token", help="the token it accepts (default: demo_token)")
        parser.add_argument("--port", type=int, default=8765, help="loopback port (default: 8765)")
        parser.add_argument("--members", type=int, default=30)
        parser.add_argument("--repositories", type=int, default=3)
        parser.add_argument("--prs-per-repository", type=int, default=150)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        end = dt.datetime.now(dt.UTC).replace(microsecond=0)
        stub = GitHubStub.with_organization(
            options["org"], options["token"], members=options["members"], repositories=options["repositories"],
            prs_per_repository=options["prs_per_repository"], seed=options["seed"], end=end, days=90,
        )
        stub.start(port=options["port"])
        self.stdout.write(
            f"GitHub stand-in on {stub.base_url}: organisation {options['org']!r}, token {options['token']!r}, "
            f"{options['members']} members, {options['repositories']} repositories x "
            f"{options['prs_per_repository']} pull requests.\n"
            f"Start the app with GITHUB_API_URL={stub.base_url} (Ctrl-C stops the stand-in)."
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            stub.stop()
