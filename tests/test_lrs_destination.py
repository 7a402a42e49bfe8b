"""transform_tracking_logs to a real Ralph LRS (filesystem backend) on 127.0.0.1."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from event_routing_backends.models import RouterConfiguration

from backfill_app.sinks.lrs import LrsSink
from tests import services
from tests.commands import as_sent, dead_letters, local_source, ralph_config, summary_value, to_lrs
from tests.corpus_fixtures import build_corpus
from tests.tables import assert_holds_exactly


@pytest.fixture
def corpus(tmp_path, db):
    return build_corpus(tmp_path, days=2, events_per_day=60, with_faults=False)


def test_ralph_receives_exactly_the_statements_and_a_second_run_adds_none(corpus, ralph):
    first = to_lrs(corpus, "--batch_size=25", config=ralph_config(ralph))
    expected = corpus.erb_statements()
    stored = ralph.read_statements()
    assert_holds_exactly([as_sent(statement) for statement in stored], expected)
    assert int(summary_value(first, "Statements written")) == len(expected) == len(stored)

    second = to_lrs(corpus, "--batch_size=25", "--restart", config=ralph_config(ralph))
    assert summary_value(second, "Statements written") == "0"
    assert summary_value(second, "Statements already present") == str(len(expected))
    assert len(ralph.read_statements()) == len(expected)


def test_a_statement_ralph_refuses_is_set_aside_and_the_rest_of_its_batch_arrives(corpus, ralph, tmp_path):
    expected = corpus.erb_statements()
    clashing = dict(next(iter(expected.values())))
    clashing["verb"] = {"id": "http://example.com/verbs/other", "display": {"en": "other"}}
    # Same id, different body: Ralph answers 409. At another time, so that the run, listing what Ralph
    # holds in the batch's time range to compare by event, does not find it first (test_drift_backfill).
    clashing["timestamp"] = "2000-01-01T00:00:00+00:00"
    services.post_statements(ralph, [clashing])

    dead = tmp_path / "dead.jsonl"
    output = to_lrs(corpus, "--batch_size=50", f"--dead_letter_path={dead}", config=ralph_config(ralph))
    stored = {statement["id"] for statement in ralph.read_statements()}
    assert stored == set(expected)
    assert summary_value(output, "Statements refused by the destination") == "1"
    (entry,) = dead_letters(str(dead))
    assert entry["reason"] == "rejected_by_destination" and "409" in entry["detail"]
    assert json.loads(entry["line"])["id"] == clashing["id"] and entry["source"].startswith("tracking.log")


@pytest.mark.parametrize(
    ("change", "status", "advice"),
    [
        ({"password": "not-the-password"}, "401", "check the username and password"),
        ({"url": "{url}/not-xapi/"}, "404", "check the URL"),
    ],
)
def test_a_wrong_password_or_url_stops_the_run_at_once_instead_of_setting_every_statement_aside(
    corpus, ralph, tmp_path, change, status, advice
):
    config = ralph_config(ralph)
    config.update({key: value.replace("{url}", ralph.url) for key, value in change.items()})
    dead = tmp_path / "dead.jsonl"
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        to_lrs(corpus, "--batch_size=20", f"--dead_letter_path={dead}", config=config, out=out)
    assert f"answered {status}" in str(error.value) and advice in str(error.value)
    assert "not-the-password" not in str(error.value) + out.getvalue()
    assert summary_value(out.getvalue(), "Statements refused by the destination") == "0"
    assert not dead.exists()
    assert ralph.read_statements() == []


@override_settings(BACKFILL_RETRY_ATTEMPTS=3, BACKFILL_RETRY_BASE_DELAY_SECS=0)
def test_ralph_stopped_mid_run_loses_nothing_and_a_rerun_completes(corpus, ralph, monkeypatch):
    real_write = LrsSink.write
    batches = {"count": 0}

    def stop_ralph_before_the_third_batch(self, statements):
        batches["count"] += 1
        if batches["count"] == 3:
            ralph.process.terminate()
            ralph.process.wait(timeout=10)
        return real_write(self, statements)

    monkeypatch.setattr(LrsSink, "write", stop_ralph_before_the_third_batch)
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        to_lrs(corpus, "--batch_size=20", config=ralph_config(ralph), out=out)
    assert "did not accept the batch" in str(error.value) and "rerun the same command to continue" in str(error.value)
    assert "STOPPED" in out.getvalue()
    written_before_stop = int(summary_value(out.getvalue(), "Statements written"))
    assert written_before_stop == len(ralph.read_statements()) >= 40

    monkeypatch.setattr(LrsSink, "write", real_write)
    with services.ralph_lrs(ralph.statements_file.parent.parent, port=ralph.port):
        rerun = to_lrs(corpus, "--batch_size=20", config=ralph_config(ralph))
    stored = ralph.read_statements()
    assert {statement["id"] for statement in stored} == set(corpus.erb_statements())
    assert len(stored) == len(corpus.erb_statements())
    assert "1 resumed where an earlier run stopped" in summary_value(rerun, "Files")
    assert int(summary_value(rerun, "Statements written")) == len(stored) - written_before_stop


def test_enabled_lms_routes_are_used_and_lrs_urls_narrows_them(corpus, ralph, tmp_path):
    (tmp_path / "second").mkdir()
    with services.ralph_lrs(tmp_path / "second") as second:
        for lrs in (ralph, second):
            RouterConfiguration.objects.create(
                route_url=f"{lrs.url}/xAPI/",
                backend_name="xapi",  # as ERB's router looks it up (the model's choice label is "xAPI")
                auth_scheme=RouterConfiguration.AUTH_BASIC,
                username=services.RALPH_USER,
                password=services.RALPH_PASSWORD,
                enabled=True,
            )
        with pytest.raises(CommandError, match="not enabled xAPI routes in RouterConfiguration: http://elsewhere"):
            to_lrs(corpus, "--lrs-urls", "http://elsewhere/xAPI/")
        to_lrs(corpus, "--lrs-urls", f"{ralph.url}/xAPI/")
        assert_holds_exactly([as_sent(s) for s in ralph.read_statements()], corpus.erb_statements())
        assert not second.statements_file.exists(), "--lrs-urls left the other route out"

        to_lrs(corpus, "--restart")  # every enabled route
        second_got = [as_sent(statement) for statement in second.read_statements()]
        assert_holds_exactly(second_got, corpus.erb_statements())


class CaliperEndpoint(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        CaliperEndpoint.received.append((self.headers.get("Authorization"), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_caliper_statements_go_to_a_caliper_endpoint_in_erbs_envelope(corpus):
    server = ThreadingHTTPServer(("127.0.0.1", 0), CaliperEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    CaliperEndpoint.received = []
    try:
        config = {"url": f"http://127.0.0.1:{server.server_port}/caliper", "token": "caliper-token"}
        output = call_command_caliper(corpus, config)
    finally:
        server.shutdown()
    envelopes = [body for _, body in CaliperEndpoint.received]
    assert {auth for auth, _ in CaliperEndpoint.received} == {"Bearer caliper-token"}
    events = [event for envelope in envelopes for event in envelope["data"]]
    assert len(events) == int(summary_value(output, "Statements written")) > 30
    assert all(envelope["sensor"] == "http://localhost:18000" for envelope in envelopes)
    assert all(event["id"].startswith("urn:uuid:") and event["actor"]["type"] == "Person" for event in events)


def call_command_caliper(corpus, config):
    out = io.StringIO()
    call_command(
        "transform_tracking_logs",
        "--source_provider=LOCAL",
        f"--source_config={json.dumps(local_source(corpus.folder))}",
        "--transformer_type=caliper",
        "--sleep_between_batches_secs=0",
        "--batch_size=40",
        f"--destination_config={json.dumps(config)}",
        stdout=out,
    )
    return out.getvalue()
