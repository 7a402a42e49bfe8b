"""
Per ERB transformer class, what its statement holds besides the parts every xAPI statement
shares (``path.py``): the object, the result, and the context when the class changes it.

Each builder follows the reads and the arithmetic of the ERB class it stands for (named in
``BUILDERS``), value for value, so that an event ERB would refuse fails here too (and goes to
ERB, which then refuses it in its own words). The differential test holds them to ERB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from event_routing_backends.helpers import convert_seconds_to_float, get_problem_block_id, make_video_block_id
from event_routing_backends.processors.xapi import constants as xc
from event_routing_backends.processors.xapi.event_transformers import (
    completion_events,
    enrollment_events,
    exam_events,
    forum_events,
    grading_events,
    navigation_events,
    problem_interaction_events,
    video_events,
)

from backfill_app.transform.direct import xapi_objects as xo
from backfill_app.transform.direct.fields import EventFields, NotDirect

problems = problem_interaction_events
BASE = object()  # "the context activities every statement has" (the course, if any)


@dataclass(slots=True)
class Parts:
    """What one builder makes of one event; ``path.DirectStatements`` adds the shared parts."""

    object: dict
    result: dict | None = None
    extra_extensions: dict | None = None
    activities: Any = BASE  # BASE, None (no context activities) or a context-activities dict
    children: tuple = ()  # problem_check's one statement per question, built after the parent


class EventReader(EventFields):
    """The reads every builder shares, with the run's settings."""

    __slots__ = ("run",)

    def __init__(self, event: dict, run):
        super().__init__(event)
        self.run = run

    def iri(self, kind: str, object_id):
        if object_id is None:
            return None
        return f"{self.run.root_url}/{kind}/{object_id}"

    def course_parent(self) -> list | None:
        course_id = self.get("context.course_id")
        return None if course_id is None else self.run.course_parent(course_id)

    def base_activities(self) -> dict | None:
        parent = self.course_parent()
        return None if parent is None else xo.context_activities(parent=parent)

    def course_definition(self, extension_values=None) -> tuple[str, dict]:
        """The course as the object (enrollment, course grade): its IRI and definition."""
        course_id = self.need("context.course_id")
        display_name = self.run.course(course_id)["display_name"]
        name = {xc.EN: display_name} if display_name is not None else {}
        return self.iri("course", course_id), xo.definition(
            xc.XAPI_ACTIVITY_COURSE, name=name, extension_values=extension_values
        )


# -- video ------------------------------------------------------------------------------

CC_SHOWN = ("edx.video.closed_captions.shown", "edx.video.transcript.shown", "video_show_cc_menu", "show_transcript")


def _video(reader: EventReader, result: dict | None) -> Parts:
    object_id = make_video_block_id(course_id=reader.need("context.course_id"), video_id=reader.need("data.id"))
    return Parts(
        object=xo.activity(f"{reader.run.root_url}/xblock/{object_id}", xo.definition(xc.XAPI_ACTIVITY_VIDEO)),
        result=result,
        extra_extensions={xc.XAPI_CONTEXT_VIDEO_LENGTH: convert_seconds_to_float(reader.get("data.duration"))},
    )


def video_loaded(reader: EventReader) -> Parts:
    return _video(reader, None)


def _current_time(reader: EventReader):
    return convert_seconds_to_float(reader.get("data.current_time") or reader.get("data.currentTime"))


def video_interaction(reader: EventReader) -> Parts:
    return _video(reader, xo.result(extension_values={xc.XAPI_RESULT_VIDEO_TIME: _current_time(reader)}))


def video_captions(reader: EventReader) -> Parts:
    enabled = reader.get("name") in CC_SHOWN
    time = _current_time(reader)
    values = {xc.XAPI_RESULT_VIDEO_TIME: time, xc.XAPI_RESULT_VIDEO_CC_ENABLED: enabled}
    return _video(reader, xo.result(extension_values=values))


def video_completed(reader: EventReader) -> Parts:
    duration = convert_seconds_to_float(reader.get("data.duration"))  # also the time reached
    made = xo.result(completion=True, duration=duration, extension_values={xc.XAPI_RESULT_VIDEO_TIME: duration})
    return _video(reader, made)


def video_position(reader: EventReader) -> Parts:
    values = {
        xc.XAPI_RESULT_VIDEO_TIME_FROM: convert_seconds_to_float(reader.get("data.old_time")),
        xc.XAPI_RESULT_VIDEO_TIME_TO: convert_seconds_to_float(reader.get("data.new_time")),
    }
    return _video(reader, xo.result(extension_values=values))


def video_speed(reader: EventReader) -> Parts:
    values = {
        xc.XAPI_RESULT_VIDEO_SPEED_FROM: "".join([reader.get("data.old_speed"), "x"]),
        xc.XAPI_RESULT_VIDEO_SPEED_TO: "".join([reader.get("data.new_speed"), "x"]),
    }
    return _video(reader, xo.result(extension_values=values))


# -- navigation -------------------------------------------------------------------------


def link_clicked(reader: EventReader) -> Parts:
    return Parts(object=xo.activity(reader.need("data.target_url"), xo.definition(xc.XAPI_ACTIVITY_LINK)))


def outline_selected(reader: EventReader) -> Parts:
    name = {xc.EN: reader.get("data.target_name")}
    return Parts(object=xo.activity(reader.get("data.target_url"), xo.definition(xc.XAPI_ACTIVITY_MODULE, name=name)))


def tab_navigation(reader: EventReader) -> Parts:
    counted = {xc.XAPI_ACTIVITY_TOTAL_COUNT: reader.get("data.tab_count")}
    made = xo.activity(
        reader.iri("xblock", reader.get("data.id")),
        xo.definition(xc.XAPI_ACTIVITY_RESOURCE, extension_values=counted),
    )
    name = reader.need("name")
    if name == "edx.ui.lms.sequence.tab_selected":
        ending = reader.get("data.target_tab")
    elif name == "edx.ui.lms.sequence.next_selected":
        ending = "next unit"
    else:
        ending = "previous unit"
    extra = {xc.XAPI_CONTEXT_STARTING_POSITION: reader.get("data.current_tab"), xc.XAPI_CONTEXT_ENDING_POSITION: ending}
    return Parts(object=made, extra_extensions=extra)


# -- completion, grades, enrollment -----------------------------------------------------


def block_completion(reader: EventReader) -> Parts:
    made = xo.activity(reader.iri("xblock", reader.get("data.block_id")), xo.definition(xc.XAPI_ACTIVITY_RESOURCE))
    completion = reader.get("data.completion")
    values = {xc.XAPI_ACTIVITY_PROGRESS: completion * 100}
    return Parts(object=made, result=xo.result(completion=completion == 1.0, extension_values=values))


def _weighted(possible, earned) -> dict:
    possible = possible or 0
    earned = earned or 0
    scaled = earned / possible if possible > 0 else 0
    return xo.result(success=earned >= possible, score_values=xo.score(0, possible, earned, scaled))


def subsection_graded(reader: EventReader) -> Parts:
    made = xo.activity(reader.iri("xblock", reader.need("data.block_id")), xo.definition(xc.XAPI_ACTIVITY_RESOURCE))
    data = reader.get("data")
    return Parts(object=made, result=_weighted(data["weighted_total_possible"], data["weighted_total_earned"]))


def course_graded(reader: EventReader) -> Parts:
    object_id, course = reader.course_definition()
    data = reader.get("data")
    earned = data["percent_grade"] or 0
    letter = reader.get("data.letter_grade") or "Fail"
    made = xo.result(
        score_values=xo.score(0, 1.0, earned, earned),
        extension_values={xc.XAPI_ACTIVITY_GRADE_CLASSIFICATION: letter},
    )
    return Parts(object=xo.activity(object_id, course), result=made)


def enrollment(reader: EventReader) -> Parts:
    object_id, course = reader.course_definition({xc.XAPI_ACTIVITY_MODE: reader.get("data.mode")})
    return Parts(object=xo.activity(object_id, course), activities=None)


# -- problems ---------------------------------------------------------------------------


def _problem_object_id(reader: EventReader):
    data = reader.get("data")
    if data and isinstance(data, dict):
        return reader.get("data.problem_id") or reader.need("data.module_id")
    return reader.get("usage_key")


def _problem_type(reader: EventReader) -> str:
    name = reader.need("name")
    return problems.EVENT_OBJECT_DEFINITION_TYPE.get(name, xc.XAPI_ACTIVITY_INTERACTION)


def problem_event(reader: EventReader) -> Parts:
    object_id = _problem_object_id(reader)
    name = reader.need("name")
    if name == "showanswer":
        object_id = f"{reader.iri('xblock', reader.need('problem_id'))}/answer"
    if name == "edx.problem.hint.demandhint_displayed":
        module_id, hint_index = reader.need("module_id"), reader.need("hint_index")
        object_id = f"{reader.iri('xblock', module_id)}/hint/{hint_index}"
    return Parts(object=xo.activity(object_id, xo.definition(_problem_type(reader))))


def problem_submitted(reader: EventReader) -> Parts:
    object_id = reader.iri("xblock", _problem_object_id(reader))
    data = reader.get("data")
    return Parts(
        object=xo.activity(object_id, xo.definition(_problem_type(reader))),
        result=_weighted(data["weighted_possible"], data["weighted_earned"]),
    )


def _source(reader: EventReader):
    return reader.get("event_source") or reader.get("context.event_source")


def _first_answered_submission(reader: EventReader):
    submissions = reader.get("data.submission")
    if submissions:
        for sub_id in submissions:
            if "response_type" in submissions[sub_id] and submissions[sub_id]["response_type"]:
                return submissions[sub_id]
    return None


def _check_definition(reader: EventReader, submission, grouped: bool) -> dict:
    attempts = reader.get("data.attempts")
    response_type = reader.get("response_type")
    try:
        interaction_type = problems.INTERACTION_TYPES_MAP[response_type]
    except KeyError:
        interaction_type = problems.DEFAULT_INTERACTION_TYPE
    display_name = reader.get("display_name")
    name = description = None
    if submission:
        interaction_type = problems.INTERACTION_TYPES_MAP.get(
            submission.get("response_type"), problems.DEFAULT_INTERACTION_TYPE
        )
        description = {xc.EN_US: submission["question"]}
    elif display_name:
        name = {xc.EN_US: display_name}
    if grouped:
        interaction_type = problems.DEFAULT_INTERACTION_TYPE
    return xo.definition(
        _problem_type(reader),
        name=name,
        description=description,
        interaction_type=interaction_type,
        extension_values={xc.XAPI_ACTIVITY_ATTEMPT: attempts} if attempts else None,
    )


def _check_object_id(reader: EventReader, object_id):
    if object_id == "":
        raise NotDirect("the activity id is empty")  # tincan refuses it
    object_id = None if object_id is None else str(object_id)  # as tincan's Activity holds it
    source = reader.get("context.event_source") or reader.get("event_source")
    referer = reader.get("referer") or reader.need("context.referer")
    if source == "browser":
        block_id = get_problem_block_id(referer, reader.get("data"), reader.get("context.course_id"))
        return reader.iri("xblock", block_id)
    return reader.iri("xblock", object_id) if object_id else object_id


def _check_outcome(reader: EventReader, submission) -> tuple:
    """(correct, response, score) of a server problem_check, as ERB's get_result reads them."""
    data = reader.get("data")
    if data is None:
        data = {}
    if submission:
        response = submission["answer"]
        correct = submission.get("correct")
    else:
        response = data.get("answers", None)
        correct = reader.get("success") == "correct"
    max_grade = reader.get("max_grade")
    grade = reader.get("grade")
    scaled = None
    if max_grade is not None and grade is not None:
        scaled = grade / max_grade if max_grade > 0 else 0
    return correct, response, xo.score(0, max_grade, grade, scaled)


def problem_check(reader: EventReader) -> Parts:
    child_ids = list(reader.get("submission") or {})
    grouped = len(child_ids) > 1
    submission = _first_answered_submission(reader)
    object_id = _check_object_id(reader, _problem_object_id(reader))
    kind = "GroupActivity" if grouped else "Activity"
    made = xo.activity(object_id, _check_definition(reader, submission, grouped), object_type=kind)
    result = None
    if _source(reader) != "browser":
        correct, response, score = _check_outcome(reader, submission)
        response = xo.list_response(response) if isinstance(response, list) else response
        result = xo.result(success=correct, score_values=score, response=response)
    return Parts(object=made, result=result, children=tuple(child_ids) if grouped else ())


def problem_check_child(reader: EventReader, child_id) -> Parts:
    """One question of a multi-question problem_check (ERB's ProblemCheckChildTransformer)."""
    submission = (reader.get("submission") or {}).get(child_id)
    object_id = "@".join([*(_problem_object_id(reader) or "").split("@")[:-1], child_id])
    made = xo.activity(_check_object_id(reader, object_id), _check_definition(reader, submission, grouped=False))
    if _source(reader) == "browser":
        raise NotDirect("a browser problem_check with several questions")  # ERB fails on it
    correct, response, _ = _check_outcome(reader, submission)
    # ERB's child result is the whole one without its score, with this question's answer.
    answer = (submission or {}).get("answer")
    if isinstance(response, list):
        answer = xo.list_response(answer)
    return Parts(object=made, result=xo.result(success=correct, response=answer))


# -- forums and exams -------------------------------------------------------------------


def forum(reader: EventReader) -> Parts:
    object_id = reader.need("data.id")
    path = reader.need("context.path").rstrip("/").replace(object_id, "").rstrip("/")
    title = reader.get("data.title")
    name = {xc.EN: title} if title else None
    made = xo.activity(
        f"{reader.run.root_url}{path}/{object_id}", xo.definition(xc.XAPI_ACTIVITY_DISCUSSION, name=name)
    )
    activities = reader.base_activities()
    discussion = reader.get("data.discussion.id")
    if discussion:
        grouping = [
            xo.activity(
                f"{reader.run.root_url}/api/discussion/v1/threads/{discussion}",
                xo.definition(xc.XAPI_ACTIVITY_DISCUSSION),
            )
        ]
        if activities is None:
            raise NotDirect("a discussion outside a course")  # ERB fails on it
        activities = xo.context_activities(parent=activities["parent"], grouping=grouping)
    return Parts(object=made, activities=activities)


def forum_with_mode(field: str):
    def builder(reader: EventReader) -> Parts:
        parts = forum(reader)
        parts.extra_extensions = {xc.XAPI_ACTIVITY_MODE: reader.get(field)}
        return parts

    return builder


def exam(activity_type: str):
    def builder(reader: EventReader) -> Parts:
        exam_name = reader.get("event.exam_name")
        made = xo.activity(
            reader.get("event.exam_content_id"),
            xo.definition(
                activity_type,
                name={xc.EN: exam_name},
                extension_values={xc.XAPI_ACTIVITY_TIME_LIMIT: reader.get("event.exam_default_time_limit_mins")},
            ),
        )
        attempt = {
            xc.XAPI_CONTEXT_ATTEMPT_STARTED: reader.get("event.attempt_started_at"),
            xc.XAPI_CONTEXT_ATTEMPT_COMPLETED: reader.get("event.attempt_completed_at"),
            xc.XAPI_CONTEXT_DURATION: reader.get("event.attempt_event_elapsed_time_secs"),
            xc.XAPI_ACTIVITY_ATTEMPT: reader.get("event.attempt_id"),
        }
        grouping = [
            xo.activity(
                reader.get("event.attempt_code"),
                xo.definition(xc.XAPI_ACTIVITY_EXAM_ATTEMPT, name={xc.EN: exam_name}, extension_values=attempt),
            )
        ]
        parent = reader.course_parent()
        if parent is None:
            raise NotDirect("an exam outside a course")  # ERB fails on it
        return Parts(object=made, activities=xo.context_activities(parent=parent, grouping=grouping))

    return builder


video = video_events
navigation = navigation_events
BUILDERS = {
    video.VideoLoadedTransformer: video_loaded,
    video.VideoInteractionTransformers: video_interaction,
    video.VideoCCTransformers: video_captions,
    video.VideoCompletedTransformer: video_completed,
    video.VideoPositionChangedTransformer: video_position,
    video.VideoSpeedChangedTransformer: video_speed,
    navigation.LinkClickedTransformer: link_clicked,
    navigation.OutlineSelectedTransformer: outline_selected,
    navigation.TabNavigationTransformer: tab_navigation,
    completion_events.CompletionCreatedTransformer: block_completion,
    grading_events.SubsectionGradedTransformer: subsection_graded,
    grading_events.CourseGradedTransformer: course_graded,
    enrollment_events.EnrollmentActivatedTransformer: enrollment,
    enrollment_events.EnrollmentDeactivatedTransformer: enrollment,
    enrollment_events.CourseGradePassedFirstTimeTransformer: enrollment,
    enrollment_events.CourseGradeNowPassedTransformer: enrollment,
    enrollment_events.CourseGradeNowFailedTransformer: enrollment,
    problems.ProblemEventsTransformer: problem_event,
    problems.ProblemSubmittedTransformer: problem_submitted,
    problems.ProblemCheckTransformer: problem_check,
    forum_events.ThreadCreatedTransformer: forum_with_mode("thread_type"),
    forum_events.ThreadEditedTransformer: forum,
    forum_events.ThreadViewedTransformer: forum,
    forum_events.ThreadDeletedTransformer: forum,
    forum_events.ThreadVotedTransformer: forum_with_mode("vote_value"),
    forum_events.ThreadResponseCreatedTransformer: forum,
    forum_events.ThreadResponseReportedTransformer: forum,
    forum_events.ThreadResponseUnReportedTransformer: forum,
    exam_events.TimedExamCreatedTransformer: exam(xc.XAPI_ACTIVITY_TIMED_ASSESSMENT),
    exam_events.PracticeExamCreatedTransformer: exam(xc.XAPI_ACTIVITY_PRACTICE_ASSESSMENT),
    exam_events.ProctoredExamCreatedTransformer: exam(xc.XAPI_ACTIVITY_PROCTORED_ASSESSMENT),
    exam_events.TimedExamSubmittedTransformer: exam(xc.XAPI_ACTIVITY_TIMED_ASSESSMENT),
    exam_events.PracticeExamSubmittedTransformer: exam(xc.XAPI_ACTIVITY_PRACTICE_ASSESSMENT),
    exam_events.ProctoredExamSubmittedTransformer: exam(xc.XAPI_ACTIVITY_PROCTORED_ASSESSMENT),
}
