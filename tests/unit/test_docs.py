"""The docs a newcomer reads: every link resolves (to a file, and to a section of it), and every
`make` target a page names exists. A page that points nowhere fails here."""

import re
from pathlib import Path

import pytest

from resources.settings import REPO_ROOT

PAGES = sorted([REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MAKE = re.compile(r"`make ([a-z][a-z-]*)")
CODE_PATH = re.compile(r"`((?:core|assets|sensors|resources|internals|platform|tools|tests|"
                       r"dbt_project|model_specs|deploy|docs)/[\w./-]+)")


def anchors(page: Path) -> set[str]:
    """The section anchors GitHub makes of a page's headings."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)}


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (REPO_ROOT / "Makefile").read_text(),
                          re.MULTILINE))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_link_and_make_target_on_the_page_exists(page):
    text = page.read_text()
    broken = []
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no such section")
    broken += [f"make {t}: no such target" for t in MAKE.findall(text)
               if t not in make_targets()]
    broken += [f"{p}: no such file or folder" for p in CODE_PATH.findall(text)
               if not (REPO_ROOT / p.rstrip(".")).exists() and "<" not in p]
    assert broken == [], f"{page.name}: {broken}"


def test_the_readme_is_short_and_links_every_page_of_the_docs():
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert {f"docs/{page.name}" for page in (REPO_ROOT / "docs").glob("*.md")} <= set(
        LINK.findall(readme))
