"""
How ERB's transformers read an event (``BaseTransformerMixin.get_data``), re-implemented
with the same rules so that a builder reads exactly the value ERB reads:

- a dotted key walks the path; a missing key, or a step into a non-dict, gives None;
- a plain key is the first match of a depth-first search of the whole event, top level first;
- an empty value (``""``, ``[]``, ``{}``, None) reads as None; 0 and False stay.
"""

from __future__ import annotations


class NotDirect(Exception):
    """The builder cannot vouch for this event: ERB's own transformer handles it."""


def _find_nested(tree: dict, key: str):
    if key in tree:
        return tree[key]
    # A dict searched in vain has nothing more to give if met again: an event's ``data`` is its
    # ``event`` (parse_tracking_line adds it last), which a missing key would otherwise be searched
    # twice. Only the last dict searched is remembered: in the logs' shape no dict value comes
    # between ``event`` and ``data`` (were one to, ``event`` is searched again: the same answer).
    searched = None
    for value in tree.values():
        if isinstance(value, dict) and value is not searched:
            found = _find_nested(value, key)
            if found is not None:
                return found
            searched = value
    return None


_STEPS: dict[str, list[str]] = {}  # a dotted key's steps, split once per process


def _dotted(tree: dict, key: str):
    steps = _STEPS.get(key)
    if steps is None:
        steps = _STEPS[key] = key.split(".")
    value: object = tree
    for step in steps:
        # Only a dict has keys: any other JSON value (a list, a string, a number) gives None,
        # as do a missing key and a None on the way (get_data's KeyError and TypeError).
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def read_field(event: dict, key: str):
    """``get_data``'s value of ``key`` in ``event``, read afresh."""
    if "." in key:
        value = _dotted(event, key)
    else:
        value = _find_nested(event, key)
    return None if value != 0 and not value else value


_UNREAD = object()


class EventFields:
    """Read access to one event, as ``get_data`` gives it."""

    __slots__ = ("event", "_read")

    def __init__(self, event: dict):
        self.event = event
        self._read: dict = {}  # builders read some keys several times, as ERB does

    def get(self, key: str):
        value = self._read.get(key, _UNREAD)
        if value is not _UNREAD:
            return value
        value = self._read[key] = read_field(self.event, key)
        return value

    def need(self, key: str):
        """A value ERB requires: when it is missing ERB fails, and says why; so it decides."""
        value = self.get(key)
        if value is None:
            raise NotDirect(f"{key} is missing")
        return value
