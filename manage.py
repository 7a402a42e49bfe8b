#!/usr/bin/env python
"""Run the backfill commands outside the LMS/CMS, with the standalone project's settings."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backfill_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
