"""The documentation: README.md and docs/*.md.

Every relative link resolves (to a file, and for ``#anchor`` links into markdown to a heading);
nothing cites a file outside the repository; docs/limits.md names exactly the gaps of
tests/known_gaps.toml; every path docs/architecture.md names exists; the README's example runs
as written, from a folder outside the repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
TOP = ("ir/", "backends/", "exporters/", "tests/", "examples/", "benchmarks/", ".ci/", "docs/")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        base = slug(line.lstrip("#"))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def section(page: Path, title: str) -> list[str]:
    """The lines of the level-2 section ``title`` of ``page`` (up to the next level-2 heading)."""
    lines = page.read_text().splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def test_docs_exist():
    assert (DOCS / "architecture.md").is_file() and (DOCS / "limits.md").is_file()
    assert len(PAGES) > 2


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    problems = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            problems.append(f"{target}: no such file")
            continue
        if ROOT not in dest.parents and dest != ROOT:
            problems.append(f"{target}: outside the repository")
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not problems, f"{page.relative_to(ROOT)}: " + "; ".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_citation_of_files_outside_the_repository(page):
    text = page.read_text()
    assert "EQUIVALENCE.md" not in text and "../shared" not in text, page.name


def test_limits_page_lists_exactly_the_known_gaps():
    gaps = {g["id"] for g in tomllib.loads((ROOT / "tests" / "known_gaps.toml").read_text())["gap"]}
    listed = [line[4:].strip() for line in section(DOCS / "limits.md", "Known gaps") if line.startswith("### ")]
    assert len(listed) == len(set(listed)), "docs/limits.md lists a gap twice"
    missing, extra = gaps - set(listed), set(listed) - gaps
    assert not missing and not extra, (
        f"docs/limits.md and tests/known_gaps.toml disagree: not in the page "
        f"{sorted(missing)}, not in the TOML {sorted(extra)}"
    )


def code_map_paths() -> list[str]:
    """Every path the code map of docs/architecture.md names.

    A bullet ``- `a`, `b`: description`` names a and b (from the repository root); ``*.py`` names in
    its description are files beside them. Elsewhere on the page, any code span that starts with a
    top-level folder is a path too.
    """
    paths = []
    for line in section(DOCS / "architecture.md", "Code map"):
        if not line.startswith("- `"):
            continue
        lead, _, description = line[2:].partition(": ")
        leads = re.findall(r"`([^`]+)`", lead)
        paths += leads
        folder = leads[0] if leads[0].endswith("/") else str(Path(leads[0]).parent) + "/"
        for name in re.findall(r"`([\w.]+\.py)`", description):
            paths.append(name if folder == "./" else folder + name)
    text = (DOCS / "architecture.md").read_text()
    paths += [s for s in re.findall(r"`([^`\s<>]+)`", text) if s.startswith(TOP)]
    return sorted(set(paths))


def test_code_map_names_only_existing_paths():
    paths = code_map_paths()
    assert len(paths) > 50
    missing = [p for p in paths if not ((ROOT / p).is_dir() if p.endswith("/") else (ROOT / p).is_file())]
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_code_map_covers_the_tree():
    """The tree matches the map: every package folder and every module is named (the torch and ONNX family files
    through the Keras file they mirror, which the next test checks)."""
    named = set(code_map_paths())
    mirrored = {
        p.replace("/keras/", f"/{fw}/") for p in named if p.startswith("backends/keras/") for fw in ("torch", "onnx")
    }
    modules = [
        p.relative_to(ROOT).as_posix() for top in ("ir", "backends", "exporters") for p in (ROOT / top).rglob("*.py")
    ]
    folders = {m.rsplit("/", 1)[0] + "/" for m in modules}
    unnamed = sorted(m for m in modules if m not in named | mirrored and not m.endswith("/__init__.py"))
    unnamed += sorted(f for f in folders if f not in named)
    assert not unnamed, f"docs/architecture.md's code map does not name: {unnamed}"


def test_backends_mirror_each_other_as_the_code_map_says():
    families = [p for p in code_map_paths() if p.startswith("backends/keras/") and p.endswith(".py")]
    assert len(families) > 10
    for path in families:
        # Training (backends/keras/training/) is mirrored in torch only: an ONNX file is never trained.
        for other in ("torch",) if path.startswith("backends/keras/training/") else ("torch", "onnx"):
            assert (ROOT / path.replace("/keras/", f"/{other}/")).is_file(), f"{path} has no {other} sibling"


def readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1, "README.md should have exactly one python example"
    return blocks[0]


def test_readme_example_runs_from_another_folder():
    code = readme_example()
    assert "import twinnet" in code and len(code.splitlines()) <= 20
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env.pop("PYTHONPATH", None)
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True, timeout=600
        )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "every pair agrees" in out.stdout


def test_readme_test_command_is_the_ci_line():
    ci = (ROOT / ".ci" / "run").read_text()
    line = "bash .ci/setup && TF_CPP_MIN_LOG_LEVEL=3 python -m pytest -q -n 2 tests"
    assert line in ci and line in (ROOT / "README.md").read_text()
