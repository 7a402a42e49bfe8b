"""dump_data_to_clickhouse: platform data (courses, users, enrollments, tags) into Aspects' event_sink tables."""
