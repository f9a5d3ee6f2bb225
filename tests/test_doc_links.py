"""Every reference to a page of the manual resolves: links in README.md and docs/, and the ``docs/x.md#anchor`` /
``README.md#anchor`` pointers that messages and docstrings in src/ give users, name a file that exists and a
heading it has (GitHub's anchors)."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SOURCES = sorted((REPO / "src" / "trainlab").rglob("*.py"))
LINK = re.compile(r"\]\(([^)\s]+\.md)(#[^)\s]*)?\)")  # [text](page.md#anchor) in Markdown
POINTER = re.compile(r"\b((?:docs/[\w-]+|README)\.md)(#[\w-]+)?")  # docs/x.md#anchor in code and text


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not re.match(r"#{1,6} ", line):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def references() -> list[tuple[str, Path, str]]:
    """(where, target page, anchor or '') of every reference."""
    found = []
    for page in PAGES:
        for target, anchor in LINK.findall(page.read_text()):
            if "://" not in target:
                found.append((page.relative_to(REPO).as_posix(), (page.parent / target).resolve(), anchor[1:]))
    for path in [*SOURCES, *PAGES]:
        for target, anchor in POINTER.findall(path.read_text()):
            found.append((path.relative_to(REPO).as_posix(), REPO / target, anchor[1:]))
    return found


@pytest.mark.parametrize("where, target, anchor", references(), ids=lambda v: str(v)[-50:])
def test_the_reference_resolves(where, target, anchor):
    assert target.is_file(), f"{where} points at {target.relative_to(REPO)}, which does not exist"
    if anchor:
        assert anchor in anchors(target), f"{where} points at {target.name}#{anchor}: no such heading"


def test_no_message_points_at_a_section_by_its_title():
    """'see README, "Params file"' cannot be checked (and went stale): point at page.md#anchor instead."""
    bad = [f"{p.relative_to(REPO)}:{i}" for p in SOURCES for i, line in enumerate(p.read_text().splitlines(), 1)
           if re.search(r"\bsee (the )?README\b(?!\.md)|README, '|see [\w ]+, '", line)]
    assert bad == []


def test_the_checker_sees_a_broken_anchor(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# Fashion-MNIST: 92% in `90` s\n\n```\n# not a heading\n```\n## Twice\n## Twice\n")
    assert anchors(page) == {"fashion-mnist-92-in-90-s", "twice", "twice-1"}
