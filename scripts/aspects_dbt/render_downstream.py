"""
What Aspects builds downstream of its raw xAPI table, as ClickHouse DDL: the aspects-dbt models
that dbt materializes as materialized views (the ones fed on every insert into
``xapi_events_all``), rendered from an aspects-dbt checkout with the settings Tutor gives dbt
(``tutor config``: ASPECTS_XAPI_DATABASE=openedx, target schema ``reporting``, no cluster).

    make aspects-downstream-schema ASPECTS_DBT=/path/to/aspects-dbt.git [AT=<commit or tag>]

Writes ``tests/fixtures/aspects_dbt/downstream.sql``: for each model, the target table
(``CREATE TABLE ... EMPTY AS <select>``, as dbt-clickhouse makes it) and its
``<model>_mv`` materialized view ``TO`` it, in dependency order. The models are aspects-dbt's
own SQL, rendered by jinja with dbt's ``config``/``ref``/``source``/``env_var`` and the
project's macros; nothing in them is written here. One change, named in the file's header:
the one-year TTL Tutor sets is left out, since the tests' events are older than a year and a
merge would drop them.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import jinja2
import yaml

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "tests" / "fixtures" / "aspects_dbt" / "downstream.sql"
COMMAND = "make aspects-downstream-schema ASPECTS_DBT=<aspects-dbt checkout> AT=<commit>"
# As tutor-contrib-aspects 6.1.0 renders them for dbt (env/local/docker-compose.jobs.yml, dbt/profiles.yml).
TUTOR_ENV = {
    "ASPECTS_XAPI_DATABASE": "openedx",
    "ASPECTS_EVENT_SINK_DATABASE": "event_sink",
    "CLICKHOUSE_CLUSTER_NAME": "",
    "ASPECTS_DATA_TTL_EXPRESSION": "",  # Tutor's is "toDateTime(emission_time) + INTERVAL 1 YEAR": see above
}
TARGET_SCHEMA = "reporting"


class Checkout:
    """Files of aspects-dbt at one commit, read with git (a bare mirror works)."""

    def __init__(self, git_dir: str, at: str):
        self.git_dir, self.at = git_dir, at
        self.commit = self._git("rev-parse", f"{at}^{{commit}}").strip()

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", self.git_dir, *args], capture_output=True, text=True, check=True
        ).stdout

    def read(self, path: str) -> str:
        return self._git("show", f"{self.commit}:{path}")

    def files(self, folder: str, suffix: str) -> list[str]:
        names = self._git("ls-tree", "-r", "--name-only", self.commit, folder).split()
        return sorted(name for name in names if name.endswith(suffix))


def env_var(name: str, default: str = "") -> str:
    return TUTOR_ENV.get(name, default)


class Model:
    def __init__(self, name: str, sql: str):
        self.name, self.sql = name, sql
        self.config: dict = {}
        self.refs: list[str] = []
        self.body = ""

    @property
    def schema(self) -> str:
        return self.config.get("schema") or TARGET_SCHEMA  # generate_schema_name, target "prod"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def render_models(checkout: Checkout) -> list[Model]:
    models = {Path(path).stem: Model(Path(path).stem, checkout.read(path)) for path in checkout.files("models", ".sql")}
    sources = {"xapi": env_var("ASPECTS_XAPI_DATABASE", "xapi"), "event_sink": env_var("ASPECTS_EVENT_SINK_DATABASE")}
    rendering: dict = {"model": None, "final": False}  # the model being rendered (macros call ref too)

    def config(**settings):
        rendering["model"].config = settings
        return ""

    def ref(name):
        rendering["model"].refs.append(name)
        return models[name].qualified if rendering["final"] else name

    def source(kind, table):
        return f"{sources[kind]}.{table}"

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"])
    dbt_vars = yaml.safe_load(checkout.read("dbt_project.yml")).get("vars", {})
    environment.globals.update(
        env_var=env_var,
        config=config,
        ref=ref,
        source=source,
        var=lambda name, default=None: dbt_vars.get(name, default),
    )
    for path in checkout.files("macros", ".sql"):
        module = environment.from_string(checkout.read(path)).module
        environment.globals.update({name: getattr(module, name) for name in dir(module) if not name.startswith("_")})
    # Two passes: the first learns each model's schema (its config), the second renders refs with it.
    for final in (False, True):
        rendering["final"] = final
        for model in models.values():
            rendering["model"], model.refs = model, []
            model.body = environment.from_string(model.sql).render(this=model.qualified).strip()
    return [model for model in models.values() if model.config.get("materialized") == "materialized_view"]


def in_dependency_order(models: list[Model]) -> list[Model]:
    by_name = {model.name: model for model in models}
    ordered: list[Model] = []

    def visit(model: Model) -> None:
        if model in ordered:
            return
        for name in model.refs:
            if name in by_name:
                visit(by_name[name])
        ordered.append(model)

    for model in sorted(models, key=lambda model: model.name):
        visit(model)
    return ordered


def ddl(model: Model) -> str:
    settings = model.config
    clauses = [f"ENGINE = {' '.join(settings['engine'].split())}"]
    if settings.get("partition_by"):
        clauses.append(f"PARTITION BY {settings['partition_by']}")
    if settings.get("primary_key"):
        clauses.append(f"PRIMARY KEY {settings['primary_key']}")
    clauses.append(f"ORDER BY {settings.get('order_by') or 'tuple()'}")
    if settings.get("ttl"):
        clauses.append(f"TTL {settings['ttl']}")
    body = re.sub(r"\n\s*\n", "\n", model.body)
    return (
        f"-- {model.name}\n"
        f"CREATE TABLE IF NOT EXISTS {model.qualified}\n{chr(10).join(clauses)}\nEMPTY AS\n{body};\n\n"
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {model.qualified}_mv TO {model.qualified} AS\n{body};\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("git_dir", help="an aspects-dbt clone's .git (or a bare mirror)")
    parser.add_argument("--at", default="HEAD", help="the commit or tag to render")
    arguments = parser.parse_args()
    checkout = Checkout(arguments.git_dir, arguments.at)
    models = in_dependency_order(render_models(checkout))
    header = (
        f"-- Aspects' materialized views downstream of its raw xAPI table: aspects-dbt at {checkout.commit},\n"
        f"-- rendered by scripts/aspects_dbt/render_downstream.py ({COMMAND}) with Tutor's dbt settings\n"
        f"-- (xAPI database {TUTOR_ENV['ASPECTS_XAPI_DATABASE']}, target schema {TARGET_SCHEMA}, no cluster), "
        "without the one-year TTL.\n"
        "-- Do not edit: render again. Statements are separated by ';' at the end of a line.\n"
    )
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(header + "\n" + "\n".join(ddl(model) for model in models))
    print(f"{OUTPUT.relative_to(REPO)}: {len(models)} models: {', '.join(model.name for model in models)}")


if __name__ == "__main__":
    main()
