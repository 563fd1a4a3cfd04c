"""``manage.py github_standin``: the stand-in the demo connects to, served until stopped."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from apps.integrations.github import GitHubClient

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_demo_stand_in_serves_an_organisation_whose_history_ends_now():
    port = _free_port()
    command = [sys.executable, "manage.py", "github_standin", "--port", str(port), "--members", "12"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{url}/user", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"{url}/user", headers={"Authorization": "Bearer wrong"}).status_code == 401
        with GitHubClient("demo_token", base_url=url) as client:
            report = client.check_access("acme")
            members = [user for page in client.organization_members("acme") for user in page]
            repositories = [repository for page in client.organization_repositories("acme") for repository in page]
            first_page = next(iter(client.pull_request_pages(repositories[0].name_with_owner, page_size=5)))
        assert report.can_read_members and report.can_read_pull_requests
        assert len(members) == 12
        newest = first_page.pull_requests[0].updated_at
        assert time.time() - newest.timestamp() < 2 * 86400  # recent: the dashboard's default range shows it
    finally:
        process.terminate()
        output, errors = process.communicate(timeout=10)
    assert f"GitHub stand-in on http://127.0.0.1:{port}" in output, (output, errors)
