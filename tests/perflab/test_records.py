"""The query records' parts (apps/perflab/records.py): the URL conf's walk, the file format, the diffs and the writer.

The records of the app's views themselves are checked by tests/test_query_records.py.
"""

import pytest

from apps.perflab import records
from apps.perflab.records import RequestRecord, Route, ViewRecord

JOINED = (
    'SELECT "a"."id", "b"."name" FROM "a" INNER JOIN "b" ON ("a"."b_id" = "b"."id") '
    'LEFT OUTER JOIN "c" ON ("c"."id" = "a"."c_id") WHERE "a"."team_id" = ? ORDER BY "a"."id" ASC LIMIT ?'
)


def _route(name="metrics:pr_list", route="t/<slug:team_slug>/prs/"):
    (found,) = [r for r in records.walk_urls() if r.name == name]
    return Route(name, route, found.pattern, found.namespace)


def _record(small: tuple[str, ...], large: tuple[str, ...], warm: tuple[str, ...] | None = None) -> ViewRecord:
    cold = {"small": RequestRecord(200, small), "large": RequestRecord(200, large)}
    warm_records = cold if warm is None else {"small": RequestRecord(200, warm), "large": RequestRecord(200, warm)}
    return ViewRecord(_route(), cold, warm_records, {"small": 5, "large": 50})


class TestUrlConf:
    def test_fill_route_replaces_each_parameter(self):
        url = records.fill_route("t/<slug:team_slug>/m/<int:member_id>/", {"team_slug": "acme", "member_id": 7})
        assert url == "/t/acme/m/7/"

    def test_fill_route_names_a_parameter_it_has_no_value_for(self):
        with pytest.raises(KeyError, match="member_id"):
            records.fill_route("t/<slug:team_slug>/m/<int:member_id>/", {"team_slug": "acme"})

    def test_names_are_namespaced_and_the_admin_left_out(self):
        names = {route.name for route in records.recorded_routes()}
        assert {"teams:home", "metrics:dashboard", "metrics:pr_list_export", "surveys:answer", "healthz"} <= names
        assert not [name for name in names if name.startswith("admin")]
        assert any(route.namespace == "admin" for route in records.walk_urls())

    def test_team_routes_take_a_team(self):
        routes = records.team_routes()
        assert len(routes) >= 20
        assert all("team_slug" in route.parameters for route in routes)


class TestFormat:
    def test_each_clause_and_join_is_a_line_of_its_own(self):
        lines = records._statements([JOINED])
        assert lines[0].startswith('  1  SELECT "a"."id"')
        assert '     INNER JOIN "b" ON ("a"."b_id" = "b"."id")' in lines
        assert '     LEFT OUTER JOIN "c" ON ("c"."id" = "a"."c_id")' in lines
        assert '     WHERE "a"."team_id" = ?' in lines and "     LIMIT ?" in lines

    def test_a_long_clause_wraps_within_the_width(self):
        columns = ", ".join(f'"t"."column_{n}"' for n in range(40))
        lines = records._statements([f'SELECT {columns} FROM "t"'])
        assert len(lines) > 3 and all(len(line) <= records.WRAP + 7 for line in lines)
        assert lines[-1] == '     FROM "t"'

    def test_a_constant_record_lists_its_statements_once(self):
        text = _record((JOINED, "SELECT ?"), (JOINED, "SELECT ?")).render()
        assert "constant: the same statements at both sizes" in text
        assert "cold (this run's cache keys deleted first): small 2, large 2 statements" in text
        assert text.count('INNER JOIN "b"') == 1
        assert "warm (the same request again): the same statements as cold" in text

    def test_sizes_that_differ_are_listed_apart(self):
        record = _record(("SELECT ?",), ("SELECT ?", "SELECT ?"))
        assert not record.constant
        text = record.render()
        assert "NOT CONSTANT across sizes" in text
        assert "at small:" in text and "at large:" in text

    def test_a_warm_request_that_reads_the_cache_is_listed(self):
        text = _record((JOINED, "SELECT ?"), (JOINED, "SELECT ?"), warm=("SELECT ?",)).render()
        assert "warm (the same request again): small 1, large 1 statements" in text

    def test_the_file_is_named_after_the_view(self):
        assert _record((), ()).filename == "metrics.pr_list.txt"


class TestDiffs:
    def test_a_changed_join_is_one_line_of_the_diff(self):
        before = {"v.txt": _record((JOINED,), (JOINED,)).render()}
        changed = JOINED.replace('LEFT OUTER JOIN "c"', 'INNER JOIN "c"')
        (diff,) = records.differences(before, {"v.txt": _record((changed,), (changed,)).render()})
        changed_lines = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        assert changed_lines == [
            '-     LEFT OUTER JOIN "c" ON ("c"."id" = "a"."c_id")',
            '+     INNER JOIN "c" ON ("c"."id" = "a"."c_id")',
        ]

    def test_a_new_and_a_removed_view_are_named(self):
        diffs = records.differences({"gone.txt": "x\n"}, {"new.txt": "y\n"})
        assert len(diffs) == 2
        assert "(the view is gone)" in diffs[0] and "(no committed record)" in diffs[1]
        assert "make query-records" in records.failure_message(diffs)

    def test_equal_files_differ_in_nothing(self):
        assert records.differences({"a.txt": "x\n"}, {"a.txt": "x\n"}) == []

    def test_write_files_removes_records_of_views_that_are_gone(self, tmp_path):
        (tmp_path / "gone.txt").write_text("old\n")
        (tmp_path / "same.txt").write_text("kept\n")
        changed = records.write_files({"same.txt": "kept\n", "new.txt": "fresh\n"}, tmp_path)
        assert changed == ["gone.txt", "new.txt"]
        assert records.committed_files(tmp_path) == {"new.txt": "fresh\n", "same.txt": "kept\n"}
