"""
Django's sqlite backend as Django 5.1 configures it with ``transaction_mode=IMMEDIATE`` and
``init_command``, for Django 4.2, which has neither option: a write transaction takes its
lock when it begins (another writer waits for it instead of failing with "database is
locked"), and readers do not block the writer (WAL).
"""

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    def _start_transaction_under_autocommit(self):
        self.cursor().execute("BEGIN IMMEDIATE")
