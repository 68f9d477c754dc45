"""Mutation score per module from mutmut's results (`make mutation` runs this after mutmut).

Reads what `mutmut run` left in mutants/ (one .meta file of exit codes per mutated module,
and the mutated copy of each module) and prints one JSON line per module, then a total line:

    {"module": "clients", "mutants": 227, "killed": 220, "survived": 7, "equivalent": 5,
     "score_pct": 99.1, "raw_score_pct": 96.9}

killed: the unit tests failed on the mutant (a time-out counts: the mutant was noticed).
survived: they passed (or no test ran the mutated function, or the result was unclear).
equivalent: survivors listed in tools/mutation_equivalents.md, mutations that change no
behaviour. score_pct = killed / (mutants - equivalent); raw_score_pct = killed / mutants.
not_checked (only when a run was cut short): mutants with no result yet, left out of both.

Each survivor not listed as equivalent is printed to stderr with its line and mutation, so
the list to work through is in the same output. An entry in the equivalents file that no
surviving mutant matches any more is reported too (stale: the code or the tests moved on).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "tools" / "mutation_equivalents.md"

# mutmut's exit codes (mutmut/stats.py), sorted into what a score needs.
KILLED = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout"}
KILLED |= {152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault", 37: "type check"}
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests"}
SKIPPED = {34: "skipped"}


def modules_from_config() -> list[str]:
    """The modules pyproject.toml's [tool.mutmut] mutates (src/NAME.py)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [str(p) for p in config["tool"]["mutmut"]["only_mutate"]]


def _functions(path: pathlib.Path) -> dict[str, ast.FunctionDef]:
    """Every function in a file by its mutmut name (class-qualified with mutmut's separator)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for inner in node.body:
                if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"ǁ{node.name}ǁ{inner.name}"] = inner
                    # mutmut's copies of a method carry the class in their own name.
                    found.setdefault(inner.name, inner)
    return found


def _lines(source: list[str], node: ast.FunctionDef, name: str) -> list[str]:
    text = source[node.lineno - 1 : node.end_lineno]
    # The def line names the copy; make it the same in every copy so only the mutation differs.
    return [text[0].replace(name, "FUNCTION", 1), *text[1:]]


def describe(module_path: pathlib.Path, mutants_path: pathlib.Path, names: list[str]) -> dict:
    """For each mutant name: its function, the source line and the mutated text."""
    source = mutants_path.read_text(encoding="utf-8").splitlines()
    defs = _functions(mutants_path)
    originals = _functions(module_path)
    out = {}
    for name in names:
        mangled, _, _ = name.rpartition(".")[2].partition("__mutmut_")
        orig_name, mutant_name = f"{mangled}__mutmut_orig", name.rpartition(".")[2]
        # x_name for a function, xǁClassǁname for a method.
        method = mangled.startswith("xǁ")
        function = mangled[2:].replace("ǁ", ".") if method else mangled.removeprefix("x_")
        if orig_name not in defs or mutant_name not in defs:
            out[name] = {"function": function, "line": None, "original": "?", "mutant": "?"}
            continue
        before = _lines(source, defs[orig_name], orig_name)
        after = _lines(source, defs[mutant_name], mutant_name)
        removed, added, first = [], [], None
        matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            first = i1 if first is None else first
            removed += before[i1:i2]
            added += after[j1:j2]
        src_def = originals.get(mangled[1:] if method else mangled[2:])
        line = None
        if src_def is not None and first is not None:
            line = src_def.lineno + first
        out[name] = {
            "function": function,
            "line": line,
            "original": " / ".join(x.strip() for x in removed).replace("FUNCTION", function),
            "mutant": " / ".join(x.strip() for x in added).replace("FUNCTION", function),
        }
    return out


def _cell(text: str) -> str:
    text = text.strip().replace("\\|", "|")
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "`" else text


def read_equivalents(path: pathlib.Path = EQUIVALENTS) -> list[dict]:
    """Rows of the equivalents table: | module | line | function | original | mutant | why |."""
    rows = []
    if not path.exists():
        return rows
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.startswith("|") or re.match(r"^\|[\s:|-]+\|$", raw):
            continue
        cells = [_cell(c) for c in re.split(r"(?<!\\)\|", raw.strip())[1:-1]]
        if len(cells) < 6 or cells[0] == "module":
            continue
        module, line, function, original, mutant, why = cells[:6]
        rows.append(
            {
                "module": module.removesuffix(".py"),
                "line": line,
                "function": function,
                "original": original,
                "mutant": mutant,
                "why": why,
            }
        )
    return rows


def _matches(row: dict, module: str, info: dict) -> bool:
    return (
        row["module"] == module
        and row["function"] == info["function"]
        and row["original"] == info["original"]
        and row["mutant"] == info["mutant"]
    )


def report(
    modules: list[str],
    mutants_dir: pathlib.Path,
    *,
    root: pathlib.Path = ROOT,
    equivalents_file: pathlib.Path = EQUIVALENTS,
    out=sys.stdout,
    err=sys.stderr,
) -> dict:
    """Print the score lines to `out` and the unexplained survivors to `err`; return the total."""
    equivalents = read_equivalents(equivalents_file)
    used, unexplained = set(), []
    total = {"module": "TOTAL", "mutants": 0, "killed": 0, "survived": 0, "equivalent": 0}
    total["not_checked"] = 0
    for module_file in modules:
        module = pathlib.Path(module_file).stem
        meta = mutants_dir / f"{module_file}.meta"
        if not meta.exists():
            print(f"{meta}: missing (has `mutmut run` run?)", file=err)
            continue
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        killed = [n for n, c in codes.items() if c in KILLED]
        survived = sorted(n for n, c in codes.items() if c not in KILLED and c not in SKIPPED)
        skipped = [n for n, c in codes.items() if c in SKIPPED]
        unchecked = [n for n in survived if codes[n] is None]
        checked = len(codes) - len(skipped) - len(unchecked)
        infos = describe(root / module_file, mutants_dir / module_file, survived)
        equivalent = []
        for name in survived:
            info = infos[name]
            hit = next((i for i, r in enumerate(equivalents) if _matches(r, module, info)), None)
            if hit is not None and codes[name] is not None:
                used.add(hit)
                equivalent.append(name)
                continue
            status = "not checked" if codes[name] is None else SURVIVED.get(codes[name], "unclear")
            unexplained.append(
                (
                    (module_file, info["line"] or 0, name),
                    f"{status}: {module_file}:{info['line']} {info['function']}: "
                    f"`{info['original']}` -> `{info['mutant']}`  ({name})",
                )
            )
        n = len(codes) - len(skipped)
        line = {
            "module": module,
            "mutants": n,
            "killed": len(killed),
            "survived": len(survived) - len(unchecked),
            "equivalent": len(equivalent),
            "score_pct": _pct(len(killed), checked - len(equivalent)),
            "raw_score_pct": _pct(len(killed), checked),
        }
        if unchecked:
            line["not_checked"] = len(unchecked)
        print(json.dumps(line), file=out)
        for key in ("mutants", "killed", "survived", "equivalent", "not_checked"):
            total[key] += line.get(key, 0)
    checked_total = total["mutants"] - total["not_checked"]
    total["score_pct"] = _pct(total["killed"], checked_total - total["equivalent"])
    total["raw_score_pct"] = _pct(total["killed"], checked_total)
    if not total["not_checked"]:
        del total["not_checked"]
    print(json.dumps(total), file=out)
    out.flush()
    for _, text in sorted(unexplained):
        print(text, file=err)
    for i, row in enumerate(equivalents):
        if i not in used:
            print(
                f"stale equivalent (no surviving mutant matches): {row['module']}.py:"
                f"{row['line']} {row['function']}: `{row['original']}` -> `{row['mutant']}`",
                file=err,
            )
    return total


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=pathlib.Path, default=ROOT / "mutants")
    parser.add_argument("--fail-under", type=float, default=None, help="exit 1 below this score")
    args = parser.parse_args(argv)
    total = report(modules_from_config(), args.mutants)
    if args.fail_under is not None and total["score_pct"] < args.fail_under:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
