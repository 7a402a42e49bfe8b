"""
Run by the Python of the Tutor virtualenv (.venv-tutor-aspects), not the test's: renders a
template, or a template string, with a Tutor root's configuration and its enabled plugins, as
``tutor config save`` would, and prints it. Standard library and tutor only.

    python tests/tutor_render.py ROOT string '{{ patch("openedx-common-settings") }}'
    python tests/tutor_render.py ROOT file aspects/jobs/init/clickhouse/init-clickhouse.sh
"""

import sys

from tutor import config as tutor_config
from tutor import env as tutor_env
from tutor import hooks
from tutor.commands import cli  # noqa: F401  (registers plugin discovery, as the tutor command does)


def main(root: str, kind: str, what: str) -> None:
    hooks.Actions.CORE_READY.do()
    hooks.Actions.PROJECT_ROOT_READY.do(root)
    config = tutor_config.load(root)
    if kind == "string":
        text = tutor_env.render_str(config, what)
    else:
        text = tutor_env.render_file(config, *what.split("/"))
    sys.stdout.write(text if isinstance(text, str) else text.decode())


if __name__ == "__main__":
    main(*sys.argv[1:4])
