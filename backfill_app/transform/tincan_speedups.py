"""
The statement objects event-routing-backends builds come from tincan, whose generic
machinery ran about half of a backfill's time: every attribute set looks its name up in a
list (``Base.__setattr__``), and every serialization walks each object twice (``as_version``
then ``_filter_none``). During a backfill both are replaced by equivalents that give the same
objects and the same JSON: a per-class set of allowed names, and one pass that drops None
values and renames keys as tincan does. The fidelity tests prove the statements unchanged.
"""

from __future__ import annotations

import datetime
import uuid
from contextlib import contextmanager

# Per tincan class, the attribute names it allows; kept here, not on tincan's classes, which
# the platform's live pipeline shares.
_ALLOWED_NAMES: dict[type, frozenset] = {}


def _allowed_names(cls) -> frozenset:
    # tincan's rule: a property ``p`` of ``_props``, or its private ``_p``.
    names = _ALLOWED_NAMES.get(cls)
    if names is None:
        names = _ALLOWED_NAMES[cls] = frozenset(cls._props) | frozenset(f"_{name}" for name in cls._props)
    return names


@contextmanager
def tincan_speedups():
    from tincan.base import Base
    from tincan.conversions.iso8601 import jsonify_datetime, jsonify_timedelta
    from tincan.serializable_base import SerializableBase
    from tincan.version import Version

    original_setattr = Base.__dict__["__setattr__"]
    original_as_version = SerializableBase.__dict__["as_version"]

    def __setattr__(self, attr, value):
        if attr in (_ALLOWED_NAMES.get(type(self)) or _allowed_names(type(self))):
            object.__setattr__(self, attr, value)
        else:
            original_setattr(self, attr, value)  # tincan's own error

    def converted(value, version):
        if isinstance(value, SerializableBase):
            return value.as_version(version)
        if isinstance(value, list):
            return [item.as_version(version) if isinstance(item, SerializableBase) else item for item in value]
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, datetime.timedelta):
            return jsonify_timedelta(value)
        if isinstance(value, datetime.datetime):
            return jsonify_datetime(value)
        return value

    def as_version(self, version=Version.latest):
        if isinstance(self, list):
            return [item.as_version(version) if isinstance(item, SerializableBase) else item for item in self]
        corrected = self._props_corrected
        result = {}
        for key, value in self.items() if isinstance(self, dict) else vars(self).items():
            if value is None:
                continue
            value = converted(value, version)
            if value is None:
                continue
            key = corrected.get(key, key)
            result[key[1:] if key[:1] == "_" else key] = value
        return result

    Base.__setattr__ = __setattr__
    SerializableBase.as_version = as_version
    try:
        yield
    finally:
        Base.__setattr__ = original_setattr
        SerializableBase.as_version = original_as_version
