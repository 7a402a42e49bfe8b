"""
event-routing-backends makes a new class for every filtered field of every statement
(``openedx_filter`` in processors/openedx_filters/decorators.py calls
``ProcessorBaseFilter.generate_dynamic_filter``, which is ``type(...)``). Making a class is
slow and leaves cyclic garbage: about a fifth of a backfill's time went there.

During a backfill each filter type's class is made once and reused. The filter pipeline
still reads OPEN_EDX_FILTERS_CONFIG on every call, so the statements are the same.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def filter_classes_reused():
    from event_routing_backends.processors.openedx_filters.filters import ProcessorBaseFilter

    original = ProcessorBaseFilter.__dict__["generate_dynamic_filter"]
    made: dict = {}

    def generate_dynamic_filter(cls: type, filter_type: str) -> type:
        key = (cls, filter_type)
        if key not in made:
            made[key] = original.__func__(cls, filter_type)
        return made[key]

    ProcessorBaseFilter.generate_dynamic_filter = classmethod(generate_dynamic_filter)
    try:
        yield
    finally:
        ProcessorBaseFilter.generate_dynamic_filter = original
