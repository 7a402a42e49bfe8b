"""
xAPI statements written directly, without tincan: the fast path of a backfill.

event-routing-backends (ERB) stays the reference. Each builder here writes, for the event
types it was verified for, the statement ERB's transformer makes, key for key, and hands
any event it is not sure of back to ERB (``NotDirect``). ``path.why_not_direct`` decides
when the fast path may run at all (the ERB version it was verified against, settings that
change ERB's output); ``path.DirectStatements`` builds an event's statements, or hands the
event back.
"""
