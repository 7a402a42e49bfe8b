"""
Course exports (OLX) -> the course tree, in course order, as the CMS's modulestore would
give it: for the standalone project, whose courses come from exports in BACKFILL_COURSES_DIR.

OLX layout: course.xml points to course/<run>.xml; a block is either inline or a pointer
(``<chapter url_name="x"/>``) to ``<type>/<url_name>.xml``. Only container blocks have
child blocks: the children of a problem or an openassessment are its content.

The rules are edx-platform's XML import (``xmodule/modulestore/xml.py``, ``xml_block.py``,
``course_block.py``): a pointer tag is an empty element whose only attribute is
``url_name``; a block without ``url_name`` is named by its ``slug``, ``name`` or
``display_name``, or else by a hash of its XML; the course's ``wiki`` and ``textbook``
children are course settings, not blocks; ``policies/<run>/policy.json`` overrides a
block's attributes by ``"<type>/<url_name>"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from opaque_keys.edx.locator import BlockUsageLocator

from backfill_app.core.errors import BackfillConfigError

CONTAINER_TYPES = {"course", "chapter", "sequential", "vertical", "library_content", "split_test", "conditional"}
# The platform's DETACHED_XBLOCK_TYPES: blocks outside the course tree, listed after it.
DETACHED_FOLDERS = {"about": "about", "info": "course_info", "tabs": "static_tab"}
# XBlock completion modes by type (XBlockCompletionMode); "completable" is the XBlock default.
AGGREGATOR_TYPES = CONTAINER_TYPES | {"itembank"}
EXCLUDED_TYPES = {"discussion", "about", "course_info", "static_tab"}
# Children of the course element that the platform reads as course settings (CourseBlock).
COURSE_SETTING_TAGS = {"wiki", "textbook"}


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


@dataclass(frozen=True)
class UnreadableCourse:
    """A course whose export (or modulestore tree) could not be read: set aside, the others dumped."""

    name: str  # the export's path, or the course key
    reason: str


def read_export(path: Path) -> OlxCourse | UnreadableCourse:
    """One course export, or why it cannot be read (a file cut short, a missing attribute...)."""
    try:
        with opened_export(path) as folder:
            return read_olx_course(folder)
    except BackfillConfigError as exc:  # names the file and the parser's reason
        return UnreadableCourse(str(path), str(exc))
    except Exception as exc:  # whatever a broken export does to the reader: that course only
        return UnreadableCourse(str(path), f"{type(exc).__name__}: {exc}")


def _parse(path: Path) -> ElementTree.Element:
    try:
        return ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise BackfillConfigError(f"{path}: not valid OLX XML ({exc})") from None


def is_pointer_tag(element: ElementTree.Element) -> bool:
    """The platform's ``is_pointer_tag``: an empty element naming its definition file, nothing else."""
    expected = {"url_name", "course", "org"} if element.tag == "course" else {"url_name"}
    return len(element) == 0 and set(element.attrib) == expected and not (element.text or "").strip()


def url_name_of(element: ElementTree.Element) -> str:
    """The platform's name for a block (``make_name_unique``): its url_name, slug, name or display name."""
    for attribute, clean in (("url_name", str), ("slug", str), ("name", BlockUsageLocator.clean),
                             ("display_name", BlockUsageLocator.clean)):  # fmt: skip
        if attribute in element.attrib:
            name = clean(element.attrib[attribute])
            if name:
                return name
            break
    # The platform hashes lxml's serialization of the element; Studio's exports name every block.
    xml = ElementTree.tostring(element, encoding="unicode").replace(" />", "/>")
    return f"{element.tag}_{hashlib.sha1(xml.encode('utf-8')).hexdigest()[:12]}"


def _definition(folder: Path, element: ElementTree.Element) -> tuple[dict, list]:
    if is_pointer_tag(element):
        url_name = element.attrib["url_name"]
        pointed = folder / element.tag / f"{url_name.replace(':', '/')}.xml"
        if pointed.is_file():
            target = _parse(pointed)
            return dict(target.attrib), list(target)
    attributes = dict(element.attrib)
    attributes.pop("slug", None)
    return attributes, list(element)


def _block(folder: Path, element: ElementTree.Element, inherited_graded: bool, policy: dict) -> OlxBlock:
    url_name = url_name_of(element)
    attributes, children = _definition(folder, element)
    attributes.update(policy.get(f"{element.tag}/{url_name}", {}))
    graded = _as_bool(attributes["graded"]) if "graded" in attributes else inherited_graded
    block = OlxBlock(element.tag, url_name, attributes, graded=graded)
    if element.tag in CONTAINER_TYPES:
        block.children = [
            _block(folder, child, graded, policy)
            for child in children
            if isinstance(child.tag, str) and not (element.tag == "course" and child.tag in COURSE_SETTING_TAGS)
        ]
    return block


def _as_bool(value) -> bool:
    # An XML attribute is a string; a policy value is JSON.
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _block_policy(folder: Path, run: str) -> dict:
    """``policies/<run>/policy.json``: attributes by ``"<type>/<url_name>"`` (the course's are its settings)."""
    try:
        policy = json.loads((folder / "policies" / run / "policy.json").read_text())
    except (OSError, ValueError):
        return {}
    return {key: value for key, value in policy.items() if isinstance(value, dict)} if isinstance(policy, dict) else {}


def _newest_and_oldest_mtime(folder: Path) -> tuple[datetime, datetime]:
    times = [entry.stat().st_mtime for entry in folder.rglob("*") if entry.is_file()]
    return (datetime.fromtimestamp(max(times), UTC), datetime.fromtimestamp(min(times), UTC))


def _lowest_passing_grade(folder: Path, run: str) -> float:
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
    root = _block(folder, pointer, inherited_graded=False, policy=_block_policy(folder, run))
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
