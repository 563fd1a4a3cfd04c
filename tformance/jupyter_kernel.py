"""The lab's Jupyter kernel: ``python -m tformance.jupyter_kernel install`` (``make install``).

Installs the kernelspec ``tformance`` into this environment's prefix (``sys.prefix``, so that
JupyterLab, VS Code and ``jupyter nbconvert`` all find it). A session of it is an IPython
kernel of this venv's Python with Django set up on ``tformance.settings`` and the shell_plus
imports loaded (every model, ``settings``, ``timezone``, ...): ``PullRequest.objects.count()``
answers in a fresh notebook, from any working directory, on the database the settings name
(the embedded development PostgreSQL unless ``DATABASE_URL`` is set).

django-extensions' own kernelspec (``shell_plus --lab``) carries only ``PYTHONPATH``: in it
every query raises ``SynchronousOnlyOperation`` (IPython runs an event loop) and nbconvert
fails with ``ImproperlyConfigured``. This one sets what those need.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import warnings
from pathlib import Path

KERNEL_NAME = "tformance"
DISPLAY_NAME = "tformance (Django shell-plus)"
PROJECT_DIR = Path(__file__).resolve().parent.parent
SHELL_PLUS_EXTENSION = "django_extensions.management.notebook_extension"


def kernel_spec() -> dict:
    """The ``kernel.json`` of the ``tformance`` kernel: ipykernel's own, on this Python, plus Django."""
    from ipykernel.kernelspec import get_kernel_dict

    spec = get_kernel_dict(
        # This module's load_ipython_extension: Django set up quietly, then the shell_plus imports.
        extra_arguments=["--ext", "tformance.jupyter_kernel"],
        # As ``ipykernel install`` does: else debugpy warns about frozen modules on stderr at start-up.
        python_arguments=["-Xfrozen_modules=off"] if platform.python_implementation() == "CPython" else None,
    )
    spec["display_name"] = DISPLAY_NAME
    spec["env"] = {
        "DJANGO_SETTINGS_MODULE": "tformance.settings",
        # IPython runs an event loop; Django refuses sync ORM calls inside one unless told it is safe.
        "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
        "PYTHONPATH": str(PROJECT_DIR),
    }
    return spec


def install(prefix: str | None = None) -> str:
    """Install (or replace) the kernelspec under ``prefix`` (default ``sys.prefix``); return its folder."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as scratch:
        source = write_kernel_spec(Path(scratch) / KERNEL_NAME, overrides=kernel_spec())  # with ipykernel's logos
        return KernelSpecManager().install_kernel_spec(source, KERNEL_NAME, prefix=prefix or sys.prefix)


def load_ipython_extension(ipython) -> None:
    """Set Django up without start-up warnings on stderr, then load the shell_plus imports.

    platformdirs warns (RuntimeDirWarning) when ``XDG_RUNTIME_DIR`` is unset and the embedded
    PostgreSQL is looked up; on stderr that alone fails an nbval cell.
    """
    import django

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        django.setup()
    ipython.extension_manager.load_extension(SHELL_PLUS_EXTENSION)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["install"]:
        print("usage: python -m tformance.jupyter_kernel install", file=sys.stderr)
        return 2
    print(f"installed kernelspec {KERNEL_NAME!r} in {install()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
