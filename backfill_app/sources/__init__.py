"""Where events come from: storage listing, byte streams, tracking-log lines."""
