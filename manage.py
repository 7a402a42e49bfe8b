#!/usr/bin/env python
"""Run the backfill commands outside the LMS/CMS, with the standalone project's settings."""

import gc
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backfill_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
    # The command is over: the interpreter's last collection need not walk every object a run
    # made (its caches: 0.04 s of a 4.5 s run).
    gc.freeze()
