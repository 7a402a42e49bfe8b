"""
``find_xapi_gaps``: the hours where Aspects' xAPI table holds fewer statements than the
tracking logs (or an archive of statements) can give. One module a job:

- ``request`` / ``job``: what a run is asked (``GapRequest``) and the run itself (``GapFinderJob``).
- ``log_counts``: supported events per hour in the tracking logs, parsed as the backfill parses them.
- ``clickhouse_counts``: the SQL against the xAPI table (statements and events per hour, held ids).
- ``missing_statements``: an hour's events transformed, the ids made looked up in ClickHouse.
- ``log_comparison``: logs against the table (``search_gaps``), and ``gap_window`` for --gaps_only.
- ``archive_comparison``: an archive of statements against the table, by id.
- ``report``: what a run found, as text (``lines_of_text``) and as data (``to_json``).
- ``text_tables`` / ``plot``: the rendering, hour tables and ``--plot``'s PNG.
"""
