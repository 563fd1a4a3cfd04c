"""The lab's kernel (tformance/jupyter_kernel.py): a fresh session of the installed ``tformance``
kernelspec answers ORM queries with the shell_plus imports, on the database the settings name,
and writes nothing to stderr.

The kernel is another process: it sees this run's test database only through committed rows
(``transaction=True``) and a ``DATABASE_URL`` naming it, given to the kernel's environment.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from django.db import connection
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from apps.metrics.factories import PullRequestFactory
from tests.support import subprocess_database_url
from tformance import jupyter_kernel

# What a notebook server or nbconvert started from a plain shell would not have: the kernelspec must set it.
NOT_INHERITED = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "PYTHONPATH", "XDG_RUNTIME_DIR", "DATABASE_URL"}


def _wait_until_disconnected(database: str, timeout: float = 10.0) -> None:
    """The kernel's connections gone, so that the test database can be flushed and dropped."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture
def kernel_specs(tmp_path) -> KernelSpecManager:
    """The kernelspec installed (twice: installing is idempotent) into a scratch prefix, and only there."""
    prefix = tmp_path / "prefix"
    jupyter_kernel.install(prefix=str(prefix))
    installed = Path(jupyter_kernel.install(prefix=str(prefix)))
    assert installed == prefix / "share" / "jupyter" / "kernels" / "tformance"
    return KernelSpecManager(kernel_dirs=[str(installed.parent)])


def test_the_kernelspec_runs_this_python_with_django_set_up(kernel_specs):
    spec = kernel_specs.get_kernel_spec("tformance")
    assert spec.display_name == jupyter_kernel.DISPLAY_NAME
    assert spec.argv[0] == sys.executable
    assert spec.argv[-6:] == [
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
        "--ext",
        "tformance.jupyter_kernel",
    ]
    assert spec.env == {
        "DJANGO_SETTINGS_MODULE": "tformance.settings",
        "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
        "PYTHONPATH": str(jupyter_kernel.PROJECT_DIR),
    }


@pytest.mark.django_db(transaction=True)
def test_a_fresh_session_counts_the_pull_requests_of_its_database(kernel_specs, tmp_path):
    PullRequestFactory.create_batch(7)
    database = connection.settings_dict["NAME"]
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env["DATABASE_URL"] = subprocess_database_url()
    elsewhere = tmp_path / "elsewhere"  # not the project: the kernel must not depend on its working directory
    elsewhere.mkdir()
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("PullRequest.objects.count()"),  # nothing imported: shell_plus did
            nbformat.v4.new_code_cell("from django.db import connection\nconnection.settings_dict['NAME']"),
        ]
    )
    # "auto": the manager provisions CurveZMQ keys the kernelspec says it supports (else ipykernel warns on stderr).
    km = KernelManager(kernel_name="tformance", kernel_spec_manager=kernel_specs, transport_encryption="auto")
    stderr_path = tmp_path / "kernel.stderr"
    client = NotebookClient(
        notebook,
        km=km,
        timeout=120,
        resources={"metadata": {"path": str(elsewhere)}},
        # Not quiet: what the kernel writes before the first cell (no client sees that) reaches its stderr too.
        extra_arguments=["--IPKernelApp.quiet=False"],
    )
    try:
        with stderr_path.open("w") as stderr:
            client.execute(env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=False)
        _wait_until_disconnected(database)

    count, name = (cell.outputs for cell in notebook.cells)
    assert [output["data"]["text/plain"] for output in count] == ["7"]
    assert [output["data"]["text/plain"] for output in name] == [repr(database)]
    streams = [output for cell in notebook.cells for output in cell.outputs if output["output_type"] == "stream"]
    assert streams == []
    assert stderr_path.read_text() == ""
