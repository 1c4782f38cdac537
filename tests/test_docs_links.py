"""The project documents itself: every link and every reference to a document points at one that exists.

* Markdown links in README.md and docs/*.md: the file exists, and a `#anchor` names one of its headings (as
  GitHub makes anchors from headings).
* References in code, tests, benchmarks, scripts and deploy files: a `docs/….md` path exists, a `§N` after it is
  a numbered section there (`## N. …`), and a quoted heading after it (`docs/architecture.md "Recovery"`) is one
  of its headings. Any other `….md` named there must exist too, so a pointer to a design note kept outside the
  repository (`SPEC.md`, `ARCHITECTURE.md`, `data/README.md`, "SPEC §3") fails here rather than in a reader.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = sorted(
    p
    for folder in ("basso", "tests", "bench", "scripts", "deploy")
    for p in (ROOT / folder).rglob("*")
    if p.is_file()
    and p.suffix in {".py", ".toml", ".md", ".sh", ".service", ".conf", ".yml", ".yaml", ".sql", ""}
    and p != Path(__file__).resolve()
    and "__pycache__" not in p.parts
)

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_DOC_REFERENCE = re.compile(
    r"(docs/[\w./-]+\.md)((?:[\s,–-]*§\d+)*)"
    r"(?:\s+\"([^\"]+)\"(?:\s+and\s+\"([^\"]+)\")?)?"
)
_ANY_MD = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
_PRIVATE_NOTES = re.compile(r"\bSPEC\b|\bARCHITECTURE\b")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(path: Path) -> list[str]:
    return [m.group(1) for m in _HEADING.finditer(_FENCE.sub("", path.read_text(encoding="utf-8")))]


def sections(path: Path) -> set[int]:
    """The numbers of a document's numbered sections (`## 3. Sizing …` is section 3)."""
    return {int(m.group(1)) for h in headings(path) if (m := re.match(r"(\d+)\.\s", h))}


def _joined(text: str) -> str:
    # A reference may run over a line break inside a comment: join the lines, dropping the comment marks.
    return re.sub(r"\n\s*#\s?", "\n", text)


def test_the_docs_exist() -> None:
    for name in ("rules.md", "architecture.md", "tradingview-exports.md"):
        assert (ROOT / "docs" / name).is_file(), name


@pytest.mark.parametrize("document", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_markdown_link_reaches_a_file_and_heading(document: Path) -> None:
    broken = []
    for target in _LINK.findall(_FENCE.sub("", document.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        linked = (document.parent / path_part).resolve() if path_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in {slug(h) for h in headings(linked)}:
            broken.append(f"{target}: no heading with anchor #{anchor} in {linked.relative_to(ROOT)}")
    assert broken == [], f"{document.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_document_reference_in_the_code_exists() -> None:
    broken = []
    for source in SOURCES:
        text = _joined(source.read_text(encoding="utf-8", errors="replace"))
        where = source.relative_to(ROOT)
        for match in _DOC_REFERENCE.finditer(text):
            doc = ROOT / match.group(1)
            if not doc.is_file():
                broken.append(f"{where}: {match.group(1)} does not exist")
                continue
            for number in map(int, re.findall(r"§(\d+)", match.group(2))):
                if number not in sections(doc):
                    broken.append(f"{where}: {match.group(1)} has no section §{number}")
            known = {" ".join(h.split()) for h in headings(doc)}
            for quoted in filter(None, match.group(3, 4)):
                if " ".join(quoted.split()) not in known:
                    broken.append(f'{where}: {match.group(1)} has no heading "{quoted}"')
        for name in _ANY_MD.findall(text):
            if not (ROOT / name).exists() and not (source.parent / name).exists():
                broken.append(f"{where}: {name} is not in the repository")
        for line_number, line in enumerate(text.splitlines(), 1):
            if _PRIVATE_NOTES.search(line):
                broken.append(f"{where}:{line_number}: points at the private design notes: {line.strip()[:80]}")
    assert broken == []


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("3. Sizing a base entry", "3-sizing-a-base-entry"),
        ("4. Portfolio risk, volatility and zones", "4-portfolio-risk-volatility-and-zones"),
        ("Running Basso: `basso run`", "running-basso-basso-run"),
        ("How the tests prove it", "how-the-tests-prove-it"),
    ],
)
def test_anchors_are_made_as_github_makes_them(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_missing_file_or_section_is_caught(tmp_path: Path) -> None:
    # The checks above can fail: a reference to a section rules.md does not have, and a link to a missing file.
    assert 99 not in sections(ROOT / "docs" / "rules.md")
    page = tmp_path / "page.md"
    page.write_text("[gone](nowhere.md) and [there](page.md#no-such-heading)\n", encoding="utf-8")
    targets = _LINK.findall(page.read_text(encoding="utf-8"))
    assert targets == ["nowhere.md", "page.md#no-such-heading"]
    assert not (tmp_path / "nowhere.md").exists()
    assert "no-such-heading" not in {slug(h) for h in headings(page)}
