"""The chapters: each .md source is paired with an in-sync, output-free .ipynb and
listed in the toc."""

import ast
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# Chapters (NN_name.md) and notebook appendices (appendix_name.md): every notebook
# source in nbs/.
CHAPTERS = sorted((ROOT / "nbs").glob("[0-9][0-9]_*.md")) + sorted(
    (ROOT / "nbs").glob("appendix_*.md")
)


def _cells(notebook):
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_there_are_chapters():
    assert CHAPTERS, "no nbs/NN_name.md chapter found"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.name)
def test_ipynb_is_in_sync_with_its_md_source(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), (
        f"{paired.name} missing: run `make sync` (jupytext --to ipynb {source.name})"
    )
    expected = _cells(jupytext.read(source))
    actual = _cells(nbformat.read(paired, as_version=4))
    assert actual == expected, (
        f"{paired.name} differs from {source.name}: run `make sync`"
    )


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.name)
def test_ipynb_is_committed_without_outputs(source):
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    with_outputs = [
        i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.outputs
    ]
    assert not with_outputs, (
        f"cells {with_outputs} of {source.stem}.ipynb have outputs: strip them"
    )


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.name)
def test_chapter_follows_the_conventions(source):
    """First code cell installs tutorialkit in Colab only; then the chapter prints its
    banner."""
    code = [c.source for c in jupytext.read(source).cells if c.cell_type == "code"]
    assert 'if "google.colab" in sys.modules' in code[0] and "tutorialkit" in code[0]
    assert any("banner(" in cell for cell in code[1:3]), (
        "the 2nd or 3rd code cell prints the banner"
    )
    assert any(
        line.lstrip().startswith("assert ")
        for cell in code
        for line in cell.splitlines()
    ), "no assert cell"


# written by .ci/results_page.py before each build (make book, the site test)
GENERATED = {"book/results"}
PROFILE_FORK = re.compile(r"\brt\.(quick|profile)\b|\bresolve_profile\(")


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.name)
def test_no_cell_forks_on_the_profile(source):
    """One code path: the plan chooses sources and sizes; no cell asks which profile is
    running."""
    code = [c.source for c in jupytext.read(source).cells if c.cell_type == "code"]
    forks = [
        line.strip()
        for cell in code
        for line in cell.splitlines()
        if PROFILE_FORK.search(line)
    ]
    assert not forks, f"{source.name} forks on the profile: {forks[:3]}"


def _conditions(code: str):
    """The condition of every ``assert`` and the first argument of every ``claim(...)``
    in ``code``."""
    nodes = sorted(
        (n for n in ast.walk(ast.parse(code)) if hasattr(n, "lineno")),
        key=lambda n: (n.lineno, n.col_offset),
    )
    for node in nodes:
        if isinstance(node, ast.Assert):
            yield node.test
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "claim"
            and node.args
        ):
            yield node.args[0]


def _is_literal(condition: ast.AST) -> bool:
    """True when nothing the chapter computed enters the condition (``assert 2 + 2 ==
    4``)."""
    return not any(
        isinstance(node, (ast.Name, ast.Attribute, ast.Call))
        for node in ast.walk(condition)
    )


def _chapter_code(source: Path) -> str:
    """The code cells of a chapter as one Python source (IPython magics become
    ``pass``)."""
    lines = [
        line
        for c in jupytext.read(source).cells
        if c.cell_type == "code"
        for line in c.source.splitlines()
    ]
    return "\n".join(re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in lines)


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.name)
def test_no_check_or_claim_is_a_literal_identity(source):
    """An assert or claim whose condition has no variable cannot fail: it checks
    nothing."""
    code = _chapter_code(source)
    literal = [ast.unparse(c) for c in _conditions(code) if _is_literal(c)]
    assert not literal, f"{source.name} asserts literal identities: {literal}"


def test_the_literal_identity_check_finds_one():
    assert [
        _is_literal(c)
        for c in _conditions("assert 2 + 2 == 4\nclaim(1 < 2, 'x')\nassert x > 0")
    ] == [True, True, False]


# names that hold a measured time (wall seconds, texts per second, ms per batch)
TIMED = re.compile(r"seconds|timing|per_s\b|ms_per|latency|wall|elapsed|perf_counter")


def _reads_a_clock(condition: ast.AST) -> bool:
    """True when a name or attribute in the condition looks like a measured time."""
    names = [n.id for n in ast.walk(condition) if isinstance(n, ast.Name)]
    names += [n.attr for n in ast.walk(condition) if isinstance(n, ast.Attribute)]
    return any(TIMED.search(name) for name in names)


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.name)
def test_no_check_or_claim_reads_a_clock(source):
    """A time measured on a shared machine moves by tens of percent from run to run: a
    chapter prints its times and benchmarks/ measures them; an assert or claim on one
    fails at random."""
    timed = [
        ast.unparse(c) for c in _conditions(_chapter_code(source)) if _reads_a_clock(c)
    ]
    assert not timed, f"{source.name} asserts on measured times: {timed}"


def test_the_clock_check_finds_one():
    code = (
        "claim(timing.texts_per_s.loc[16] > timing.texts_per_s.loc[1], 'x')\n"
        "assert margins[second] > margins[first]\nassert ours_seconds < 60"
    )
    assert [_reads_a_clock(c) for c in _conditions(code)] == [True, False, True]


def test_every_toc_entry_exists_and_every_chapter_is_in_the_toc():
    files = _toc_files()
    for entry in files:
        if entry in GENERATED:
            continue
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), (
            f"_toc.yml: {entry} not found"
        )
    for chapter in CHAPTERS:
        assert f"nbs/{chapter.stem}" in files, f"{chapter.name} is not in _toc.yml"
