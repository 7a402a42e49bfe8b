"""
ERB's xAPI transformer builds each statement's actor and verb twice: once for the statement,
once more for its id (``get_event_id`` hashes their JSON), each time making the tincan
objects again and running them through the openedx-filters pipeline. During a backfill the
second call within one transformer (one event) returns the first one's result.

Only where no openedx filter is configured for those steps: the calls are then pure, and the
statements the same (the fidelity tests). A configured filter keeps ERB's two calls.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager

from django.conf import settings

MEMOIZED = {
    "get_actor": "event_routing_backends.processors.xapi.transformer.xapi_transformer.get_actor",
    "get_verb": "event_routing_backends.processors.xapi.transformer.xapi_transformer.get_verb",
}


def _once_per_transformer(method):
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self):
        made = self.__dict__.setdefault("_backfill_made", {})
        if name not in made:
            made[name] = method(self)
        return made[name]

    return wrapper


@contextmanager
def transformer_calls_memoized():
    from event_routing_backends.processors.xapi.transformer import XApiTransformer

    configured = getattr(settings, "OPEN_EDX_FILTERS_CONFIG", None) or {}
    originals = {
        name: XApiTransformer.__dict__[name] for name, filter_type in MEMOIZED.items() if filter_type not in configured
    }
    for name, method in originals.items():
        setattr(XApiTransformer, name, _once_per_transformer(method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(XApiTransformer, name, method)
