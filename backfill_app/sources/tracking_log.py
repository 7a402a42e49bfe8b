"""
One tracking-log line -> the event dict that event-routing-backends' transformers expect.

A line is ``<anything>{json}``: Tutor's logger prefix (``2023-05-23 13:53:13,461 INFO 20
[tracking] [user 6] [ip 172.18.0.1] logger.py:41 - {...}``) or a bare JSON object. The
event is normalised the way ERB's own command does it: ``event`` (a JSON string or an
object) is also given as ``data``, and ``time`` as ``timestamp`` when that is absent.
"""

from __future__ import annotations

import json

from backfill_app.core.json_codec import may_be_json, read_json


class BadLine(Exception):
    """A line that is not an event; ``reason`` is a short, stable name for the summary."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_tracking_line(text: str) -> dict:
    start = text.find("{")
    if start < 0:
        raise BadLine("not_json", "no JSON object on the line")
    end = text.rfind("}")
    if end < start or text[end + 1 :].strip():
        raise BadLine("truncated_line", "the line does not end with its JSON object's closing brace (cut short)")
    candidate = text[start : end + 1]
    try:
        event = read_json(candidate)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(candidate):  # the JSON ran out before it was complete
            raise BadLine("truncated_line", f"the JSON object ends early ({exc.msg})") from None
        raise BadLine("bad_json", f"invalid JSON: {exc.msg} at character {exc.pos}") from None
    except ValueError:  # valid JSON Python will not read: an integer of more than 4,300 digits
        raise BadLine("bad_json", "a number on the line is too long to read (over 4,300 digits)") from None
    except RecursionError:
        raise BadLine("bad_json", "the JSON is nested too deeply to read") from None
    if not isinstance(event, dict):
        raise BadLine("bad_json", "the JSON on the line is not an object")
    if "event" not in event:
        raise BadLine("no_event", "the JSON object has no 'event' field")

    payload = event["event"]
    if isinstance(payload, str) and may_be_json(payload):
        try:
            payload = read_json(payload)
        except (ValueError, RecursionError):
            pass  # browser events such as problem_check carry a URL-encoded string: kept as is
    event["data"] = payload
    if "timestamp" not in event and "time" in event:
        event["timestamp"] = event["time"]
    return event
