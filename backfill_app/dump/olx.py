"""
Course exports (OLX) -> the course tree, in course order, as the CMS's modulestore would
give it: for the standalone project, whose courses come from exports in BACKFILL_COURSES_DIR.

OLX layout: course.xml points to course/<run>.xml; a block is either inline or a pointer
(``<chapter url_name="x"/>``) to ``<type>/<url_name>.xml``. Only container blocks have
child blocks: the children of a problem or an openassessment are its content.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from backfill_app.errors import BackfillConfigError

CONTAINER_TYPES = {"course", "chapter", "sequential", "vertical", "library_content", "split_test", "conditional"}
# The platform's DETACHED_XBLOCK_TYPES: blocks outside the course tree, listed after it.
DETACHED_FOLDERS = {"about": "about", "info": "course_info", "tabs": "static_tab"}
# XBlock completion modes by type (XBlockCompletionMode); "completable" is the XBlock default.
AGGREGATOR_TYPES = CONTAINER_TYPES | {"itembank"}
EXCLUDED_TYPES = {"discussion", "about", "course_info", "static_tab"}


@dataclass
class OlxBlock:
    block_type: str
    url_name: str
    attributes: dict
    children: list[OlxBlock] = field(default_factory=list)
    graded: bool = False  # inherited from the ancestors, as the platform's InheritanceMixin does
    completion: str | None = None  # the XBlock's own completion_mode, when known (modulestore)

    @property
    def display_name(self) -> str:
        # xmodule's display_name_with_default: the url name, spaced, when there is no display name.
        return self.attributes.get("display_name") or self.url_name.replace("_", " ")

    @property
    def completion_mode(self) -> str:
        if self.completion is not None:
            return self.completion
        if self.block_type in AGGREGATOR_TYPES:
            return "aggregator"
        return "excluded" if self.block_type in EXCLUDED_TYPES else "completable"


@dataclass
class OlxCourse:
    org: str
    course: str
    run: str
    root: OlxBlock
    detached: list[OlxBlock]
    modified: datetime
    created: datetime
    lowest_passing_grade: float
    about: dict[str, str]
    overview: object = None  # the platform's CourseOverview, when the course comes from the modulestore

    @property
    def course_key(self) -> str:
        return f"course-v1:{self.org}+{self.course}+{self.run}"

    def location(self, block: OlxBlock) -> str:
        return f"block-v1:{self.org}+{self.course}+{self.run}+type@{block.block_type}+block@{block.url_name}"

    def blocks_in_course_order(self) -> Iterator[OlxBlock]:
        def walk(block):
            yield block
            for child in block.children:
                yield from walk(child)

        yield from walk(self.root)
        yield from self.detached


def _parse(path: Path) -> ElementTree.Element:
    try:
        return ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise BackfillConfigError(f"{path}: not valid OLX XML ({exc})") from None


def _definition(folder: Path, element: ElementTree.Element) -> tuple[dict, list]:
    url_name = element.get("url_name")
    pointed = folder / element.tag / f"{url_name}.xml"
    if url_name and len(element) == 0 and pointed.is_file():
        target = _parse(pointed)
        attributes = dict(target.attrib)
        attributes.update({key: value for key, value in element.attrib.items() if key != "url_name"})
        return attributes, list(target)
    return dict(element.attrib), list(element)


def _block(folder: Path, element: ElementTree.Element, inherited_graded: bool) -> OlxBlock:
    attributes, children = _definition(folder, element)
    graded = attributes["graded"].lower() == "true" if "graded" in attributes else inherited_graded
    block = OlxBlock(element.tag, element.get("url_name") or attributes.get("url_name", ""), attributes, graded=graded)
    if element.tag in CONTAINER_TYPES:
        block.children = [_block(folder, child, graded) for child in children if isinstance(child.tag, str)]
    return block


def _newest_and_oldest_mtime(folder: Path) -> tuple[datetime, datetime]:
    times = [entry.stat().st_mtime for entry in folder.rglob("*") if entry.is_file()]
    return (datetime.fromtimestamp(max(times), UTC), datetime.fromtimestamp(min(times), UTC))


def _lowest_passing_grade(folder: Path, run: str) -> float:
    import json

    policy = folder / "policies" / run / "grading_policy.json"
    try:
        cutoffs = json.loads(policy.read_text()).get("GRADE_CUTOFFS") or {}
        return float(min(cutoffs.values())) if cutoffs else 0.5
    except (OSError, ValueError):
        return 0.5


def read_olx_course(folder: Path) -> OlxCourse:
    """A course export folder (the one holding course.xml)."""
    pointer = _parse(folder / "course.xml")
    org, course, run = pointer.get("org"), pointer.get("course"), pointer.get("url_name")
    if not (org and course and run):
        raise BackfillConfigError(f"{folder / 'course.xml'}: needs org, course and url_name attributes.")
    root = _block(folder, pointer, inherited_graded=False)
    root.url_name = "course"  # the platform's course block id
    detached = [
        OlxBlock(block_type, path.stem, {"display_name": path.stem.replace("_", " ")})
        for subfolder, block_type in DETACHED_FOLDERS.items()
        for path in sorted((folder / subfolder).glob("*.html"))
    ]
    modified, created = _newest_and_oldest_mtime(folder)
    about = {path.stem: path.read_text(errors="replace").strip() for path in (folder / "about").glob("*.html")}
    return OlxCourse(org, course, run, root, detached, modified, created, _lowest_passing_grade(folder, run), about)


def _course_folder(path: Path) -> Path | None:
    for candidate in (path, path / "course"):
        if (candidate / "course.xml").is_file():
            return candidate
    return None


@contextmanager
def opened_export(path: Path):
    """A course export as a folder: itself, or a .tar.gz extracted to a temporary folder."""
    if path.is_dir():
        folder = _course_folder(path)
        if folder is None:
            raise BackfillConfigError(f"{path}: no course.xml in it (nor in its course/ folder).")
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="olx-") as scratch, tarfile.open(path, "r:gz") as archive:
        archive.extractall(scratch, filter="data")  # no absolute paths, links outside, devices
        for dirpath, _, files in os.walk(scratch):
            if "course.xml" in files:
                yield Path(dirpath)
                return
        raise BackfillConfigError(f"{path}: no course.xml in the archive.")


def course_exports(directory: str) -> list[Path]:
    """The course exports in a folder: sub-folders holding course.xml, and .tar.gz archives."""
    root = Path(directory)
    if not root.is_dir():
        raise BackfillConfigError(f"BACKFILL_COURSES_DIR {directory!r} is not a folder of course exports.")
    return sorted(
        entry
        for entry in root.iterdir()
        if (entry.is_dir() and _course_folder(entry)) or entry.name.endswith((".tar.gz", ".tgz"))
    )
