"""ClickHouse access shared by every command: one connection recipe, one schema."""
