"""pyproject.toml is the one place dependencies are declared; environment.yml only points at it.

environment.yml must name Python 3.11 (what requires-python allows, and nothing else), pip,
and, through pip, this very project with its dev extra: no other package, so a conda
environment gets exactly pyproject's dependency set.
"""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<spec>.*)$")
EDITABLE_SELF = re.compile(r"^-e\s+\.(?:\[(?P<extras>[^\]]*)\])?$")


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment() -> dict:
    path = ROOT / "environment.yml"
    assert path.is_file(), "environment.yml is missing beside pyproject.toml"
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), "environment.yml is not a mapping"
    return data


def _conda_and_pip(environment: dict) -> tuple[dict[str, str], list[str]]:
    """({conda package name: version spec}, [pip lines]) from environment.yml's dependencies."""
    conda: dict[str, str] = {}
    pip_sections: list[list[str]] = []
    for entry in environment.get("dependencies") or []:
        if isinstance(entry, dict):
            assert set(entry) == {"pip"}, f"unexpected nested section {entry!r}"
            pip_sections.append(entry["pip"] or [])
        else:
            match = CONDA_SPEC.match(str(entry).strip())
            assert match, f"unreadable conda dependency {entry!r}"
            assert match["name"] not in conda, f"{match['name']} named twice"
            conda[match["name"].lower()] = match["spec"].strip()
    assert len(pip_sections) == 1, "expected exactly one pip section"
    return conda, [str(line).strip() for line in pip_sections[0]]


def _conda_python_versions(spec: str) -> SpecifierSet:
    """A conda ``python=3.11`` (or ``==3.11.*``, ``3.11``) as a pip specifier set."""
    spec = spec.strip()
    match = re.fullmatch(r"=?=?\s*(\d+)\.(\d+)(?:\.\*)?", spec)
    assert match, f"python must be pinned to one minor version, e.g. python=3.11, not {spec!r}"
    return SpecifierSet(f"=={match[1]}.{match[2]}.*")


def test_environment_names_only_python_and_pip_for_conda(environment):
    conda, _ = _conda_and_pip(environment)
    assert set(conda) == {"python", "pip"}, f"packages beside python and pip: {conda}"


def test_environment_python_is_311_and_matches_requires_python(environment, pyproject):
    conda, _ = _conda_and_pip(environment)
    pinned = _conda_python_versions(conda["python"])
    assert Version("3.11.0") in pinned

    requires = SpecifierSet(pyproject["project"]["requires-python"])
    # every 3.11 release is allowed by pyproject, and pyproject allows nothing outside 3.11
    for patch in ("3.11.0", "3.11.9", "3.11.99"):
        assert Version(patch) in requires, f"requires-python {requires} refuses {patch}"
        assert Version(patch) in pinned
    for other in ("3.10.14", "3.12.0", "3.13.1", "4.0"):
        assert Version(other) not in requires, f"requires-python {requires} allows {other}"
        assert Version(other) not in pinned


def test_environment_installs_this_project_with_dev_extra_and_nothing_else(environment, pyproject):
    _, pip_lines = _conda_and_pip(environment)
    assert len(pip_lines) == 1, f"the pip section must install only this project: {pip_lines}"
    match = EDITABLE_SELF.match(pip_lines[0])
    assert match, f"expected '-e .[dev]', got {pip_lines[0]!r}"
    extras = {e.strip() for e in (match["extras"] or "").split(",") if e.strip()}
    assert extras == {"dev"}
    assert "dev" in pyproject["project"]["optional-dependencies"]


def test_environment_sits_beside_pyproject_so_dot_is_this_project(pyproject):
    assert (ROOT / "environment.yml").parent == (ROOT / "pyproject.toml").parent
    assert pyproject["project"]["name"] == "tformance"
    assert (ROOT / "tformance").is_dir()


def test_pyproject_dependencies_are_valid_requirements(pyproject):
    project = pyproject["project"]
    declared = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared += extra
    names = [Requirement(line).name.lower() for line in declared]  # raises if malformed
    assert len(names) == len(set(names)), "a package is declared twice"
    assert "django" in names and "pytest" in names


def test_test_tools_are_in_the_dev_extra_not_the_runtime_set(pyproject):
    runtime = {Requirement(r).name.lower() for r in pyproject["project"]["dependencies"]}
    dev = {
        Requirement(r).name.lower() for r in pyproject["project"]["optional-dependencies"]["dev"]
    }
    assert {"pytest", "pytest-django", "ruff"} <= dev
    assert not runtime & {"pytest", "pytest-django", "ruff", "nbval"}
