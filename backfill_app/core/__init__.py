"""Settings and their defaults, errors, the retry policy, redaction, option parsing, private files."""
