"""Where statements go: ClickHouse, an LRS, files. Each sink has the same small interface."""
