"""The bridge to event-routing-backends: allow-list, transformer registry, actor and course lookups."""
