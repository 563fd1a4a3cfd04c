"""requirements/lock.txt, which make install installs from, stays in step with pyproject.toml.

Every entry is one exact version with its hashes (pip --require-hashes refuses anything else); every dependency
pyproject.toml declares, with the dev and lab extras, and the build backend, has a locked version its range
allows. A range changed without `make lock` fails here, not on a fresh machine.
"""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")


def parse_lock(text: str) -> dict[str, tuple[Version, list[str]]]:
    """{canonical name: (version, [sha256 hashes])}; raises on a line that is not a pin, a hash or a comment."""
    entries: dict[str, tuple[Version, list[str]]] = {}
    current = None
    for line in text.splitlines():
        stripped = line.strip().removesuffix("\\").strip()
        if not stripped or stripped.startswith("#"):
            continue
        if match := PIN.match(stripped):
            current = canonicalize_name(match["name"])
            assert current not in entries, f"{current} locked twice"
            entries[current] = (Version(match["version"]), [])
        elif stripped.startswith("--hash=sha256:") and current:
            entries[current][1].append(stripped.removeprefix("--hash=sha256:"))
        else:
            raise AssertionError(f"not a pin, a hash or a comment: {line!r}")
    return entries


@pytest.fixture(scope="module")
def locked() -> dict[str, tuple[Version, list[str]]]:
    return parse_lock(LOCK.read_text())


def declared_requirements() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    lines = list(project["dependencies"]) + list(pyproject["build-system"]["requires"])
    for extra in ("dev", "lab"):
        lines += project["optional-dependencies"][extra]
    requirements = [Requirement(line) for line in lines]
    return [r for r in requirements if canonicalize_name(r.name) != project["name"]]  # dev's tformance[lab]


def test_parse_lock_refuses_a_range_and_reads_hashes():
    assert parse_lock("a-b==1.0 \\\n    --hash=sha256:ab\n    # via x\n") == {"a-b": (Version("1.0"), ["ab"])}
    with pytest.raises(AssertionError, match="not a pin"):
        parse_lock("django>=5.2\n")


def test_every_locked_package_has_an_exact_version_and_hashes(locked):
    assert len(locked) > 100  # the whole transitive set, not only what pyproject names
    without = sorted(name for name, (_, hashes) in locked.items() if not hashes)
    assert without == [], f"locked without hashes: {without}"


def test_every_declared_dependency_is_locked_within_its_range(locked):
    problems = []
    for requirement in declared_requirements():
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(locked[name][0], prereleases=True):
            problems.append(f"{requirement}: the lock has {locked[name][0]}")
    assert problems == [], "run make lock: " + "; ".join(problems)


def test_the_project_itself_is_not_locked(locked):
    # `pip install --no-deps -e .` installs it after the lock: a pinned tformance would be fetched from an index.
    assert "tformance" not in locked


def test_make_install_installs_from_the_lock_and_reinstalls_when_it_changes():
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(r"^\$\(STAMP\):(?P<prerequisites>.*)\n(?P<recipe>(?:\t.*\n)+)", makefile, re.MULTILINE)
    assert rule, "no $(STAMP) rule in the Makefile"
    assert {"pyproject.toml", "$(LOCK)"} <= set(rule["prerequisites"].split())
    assert re.search(r"^LOCK := requirements/lock\.txt$", makefile, re.MULTILINE)
    assert "--require-hashes -r $(LOCK)" in rule["recipe"]
    assert "--no-deps" in rule["recipe"] and "-e ." in rule["recipe"]
    assert "'.[dev]'" not in rule["recipe"]  # nothing resolved afresh outside the lock
