"""
The platform's switch for personal data, read as platform-plugin-aspects reads it: a model's
sink is on when the setting ``EVENT_SINK_CLICKHOUSE_<MODEL>_ENABLED`` is true or the waffle
flag ``event_sink_clickhouse.<model>.enabled`` is active (ModelBaseSink.is_enabled).
``EVENT_SINK_CLICKHOUSE_PII_MODELS`` says which models hold personal data, not whether they
are on: tutor-contrib-aspects renders the same list with PII on or off, and turns PII on by
setting ``EVENT_SINK_CLICKHOUSE_USER_PROFILE_ENABLED`` (and EXTERNAL_ID) to True.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings

# Personal data whatever the settings say (their rows hold names, emails, anonymous ids).
ALWAYS_PERSONAL = frozenset({"user_profile", "external_id"})
WAFFLE_NAMESPACE = "event_sink_clickhouse"


def personal_models() -> frozenset[str]:
    return ALWAYS_PERSONAL | frozenset(getattr(settings, "EVENT_SINK_CLICKHOUSE_PII_MODELS", None) or ())


def enabling_setting(model: str) -> str:
    return f"{WAFFLE_NAMESPACE.upper()}_{model.upper()}_ENABLED"


def waffle_flag_name(model: str) -> str:
    return f"{WAFFLE_NAMESPACE}.{model}.enabled"


def sink_enabled(model: str) -> bool:
    if getattr(settings, enabling_setting(model), False):
        return True
    if not apps.is_installed("waffle"):  # the standalone project: the setting alone decides
        return False
    from edx_toggles.toggles import WaffleFlag

    return WaffleFlag(waffle_flag_name(model), __name__).is_enabled()


def refusal(model: str) -> str | None:
    """Why ``model`` must not be dumped here, or None when it may be."""
    if model not in personal_models() or sink_enabled(model):
        return None
    return (
        f"{model} holds personal data and its sink is off here: nothing dumped. Turn it on with "
        f"{enabling_setting(model)} = True (Tutor: ASPECTS_ENABLE_PII: true; standalone: BACKFILL_ENABLE_PII=true) "
        f"or the waffle flag {waffle_flag_name(model)}, or pass --force_pii to dump it anyway."
    )
