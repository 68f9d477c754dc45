"""tools/mutation_report.py on a small made-up mutmut result (no mutmut run needed)."""

import io
import json
import textwrap

from tools import mutation_report

SOURCE = textwrap.dedent(
    """\
    def double(n):
        return n * 2


    class Box:
        def size(self):
            return 3
    """
)
# What mutmut 3 leaves in mutants/: a copy of each function per mutant beside the original.
MUTANTS = textwrap.dedent(
    """\
    def x_double__mutmut_orig(n):
        return n * 2


    def x_double__mutmut_1(n):
        return n / 2


    def x_double__mutmut_2(n):
        return n * 3


    def x_double__mutmut_3(n):
        return n ** 2


    class Box:
        def xǁBoxǁsize__mutmut_orig(self):
            return 3

        def xǁBoxǁsize__mutmut_1(self):
            return 4
    """
)
EQUIVALENTS = """\
| module | line | function | original | mutant | why |
| --- | --- | --- | --- | --- | --- |
| mod.py | 2 | double | `return n * 2` | `return n ** 2` | made up: n is always 2 |
| mod.py | 9 | double | `return n * 2` | `return n \\| 2` | stale: no such mutant |
"""


def run(tmp_path, codes):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "mod.py").write_text(SOURCE, encoding="utf-8")
    mutants = tmp_path / "mutants" / "src"
    mutants.mkdir(parents=True)
    (mutants / "mod.py").write_text(MUTANTS, encoding="utf-8")
    meta = {"exit_code_by_key": codes, "durations_by_key": {}}
    (mutants / "mod.py.meta").write_text(json.dumps(meta), encoding="utf-8")
    (tmp_path / "equivalents.md").write_text(EQUIVALENTS, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    total = mutation_report.report(
        ["src/mod.py"],
        tmp_path / "mutants",
        root=tmp_path,
        equivalents_file=tmp_path / "equivalents.md",
        out=out,
        err=err,
    )
    return total, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_scores_count_kills_and_leave_listed_equivalents_out(tmp_path):
    codes = {
        "mod.x_double__mutmut_1": 1,  # killed
        "mod.x_double__mutmut_2": 0,  # survived
        "mod.x_double__mutmut_3": 0,  # survived, listed as equivalent
        "mod.xǁBoxǁsize__mutmut_1": 36,  # timed out: noticed, so killed
    }
    total, lines, err = run(tmp_path, codes)

    assert lines[0] == {
        "module": "mod",
        "mutants": 4,
        "killed": 2,
        "survived": 2,
        "equivalent": 1,
        "score_pct": 66.7,
        "raw_score_pct": 50.0,
    }
    assert lines[1]["module"] == "TOTAL"
    assert total == lines[1]
    assert total["score_pct"] == 66.7
    survivors, stale = err.splitlines()
    assert survivors == (
        "survived: src/mod.py:2 double: `return n * 2` -> `return n * 3`  (mod.x_double__mutmut_2)"
    )
    assert stale.startswith("stale equivalent (no surviving mutant matches): mod.py:9 double")


def test_a_method_survivor_is_named_with_its_class_and_source_line(tmp_path):
    codes = {"mod.x_double__mutmut_1": 1, "mod.xǁBoxǁsize__mutmut_1": 0}
    _, _, err = run(tmp_path, codes)

    assert err.splitlines()[0] == (
        "survived: src/mod.py:7 Box.size: `return 3` -> `return 4`  (mod.xǁBoxǁsize__mutmut_1)"
    )


def test_mutants_not_checked_yet_are_left_out_of_the_score(tmp_path):
    codes = {"mod.x_double__mutmut_1": 1, "mod.x_double__mutmut_2": None}
    total, lines, _ = run(tmp_path, codes)

    assert lines[0]["not_checked"] == 1
    assert (lines[0]["survived"], lines[0]["score_pct"]) == (0, 100.0)
    assert total["not_checked"] == 1


def test_the_real_equivalents_table_parses(tmp_path):
    rows = mutation_report.read_equivalents()
    assert all(row["why"] and row["module"] for row in rows)
