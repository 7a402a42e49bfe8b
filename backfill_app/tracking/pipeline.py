"""
tracking logs -> statements -> a sink: the only module that knows all three. It batches,
counts, sets bad lines aside, records how far it got once statements are written, and
stops cleanly when the destination is gone.
"""

from __future__ import annotations

import gzip
import logging
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from backfill_app.core import conf
from backfill_app.core.errors import ServiceUnavailable
from backfill_app.core.garbage import CollectedBetweenBlocks
from backfill_app.reporting.cpu import COMMAND, CpuAccount, add_seconds
from backfill_app.reporting.dead_letter import DeadLetters
from backfill_app.reporting.progress import ByteProgress
from backfill_app.reporting.summary import RunSummary
from backfill_app.sinks.background import BackgroundWriter, Settled
from backfill_app.sinks.base import RowSink, StatementSink
from backfill_app.sinks.drift import DRIFT_REASONS, behind, set_aside_detail
from backfill_app.sinks.row_binary import PreparedStatements
from backfill_app.sources.lines import LineReader
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.sources.tracking_log import BadLine, parse_tracking_line
from backfill_app.tracking.checkpoints import NoCheckpoints
from backfill_app.tracking.same_id import FirstStatementOfEachId
from backfill_app.tracking.work import BatchOptions, WorkResult
from backfill_app.transform.accelerations import erb_accelerated
from backfill_app.transform.lookups import PlatformLookups
from backfill_app.transform.statements import KEY_NOT_READ, DirectPathMismatch, StatementTransformer, TransformFailure

log = logging.getLogger(__name__)

# Lines parsed ahead so that their users are looked up together, in a few queries.
LOOKUP_BLOCK_LINES = 1_000

# Failures of the storage or of a file's own bytes: the file is reported and the run goes on.
UNREADABLE_OBJECT_ERRORS = (OSError, EOFError, gzip.BadGzipFile, zlib.error, ConnectionError)


@dataclass
class ReadPosition:
    """Where reading one object stands; committed once the statements before it are written."""

    obj: LogObject
    offset: int
    line: int
    finished: bool = False
    # The object's, read once rather than for every line.
    label: str = field(init=False)
    is_gzip: bool = field(init=False)

    def __post_init__(self) -> None:
        self.label, self.is_gzip = self.obj.label, self.obj.is_gzip


@dataclass
class BatchInFlight:
    """A batch being written, with where it starts and the positions its write makes safe."""

    start: str | None
    positions: list[ReadPosition]


class TrackingLogBackfill:
    def __init__(
        self,
        store: LogStore,
        transformer: StatementTransformer,
        sink: StatementSink,
        dead_letters: DeadLetters,
        options: BatchOptions,
        dry_run: bool = False,
        checkpoints=None,
        event_filter=None,
        progress_listener=None,
        startup_is_this_runs: bool = True,
        lookups: PlatformLookups | None = None,
        row_sink: RowSink | None = None,
    ):
        self.store = store
        self.transformer = transformer
        self.sink = sink
        self.cpu = CpuAccount()
        self.startup_is_this_runs = startup_is_this_runs  # a worker's second object: its start-up is counted
        self.row_sink = row_sink  # where rows that workers made ready go (the parent of --workers)
        self.writer = BackgroundWriter(self._write, threaded=not sink.in_process, cpu=self.cpu, role=sink.cpu_role)
        self.dead_letters = dead_letters
        self.options = options
        self.checkpoints = checkpoints or NoCheckpoints()
        self.event_filter = event_filter
        self.progress_listener = progress_listener
        self.summary = RunSummary(
            destination=sink.describe(),
            dry_run=dry_run,
            transformer_type=transformer.transformer_type,
            direct_off=transformer.why_not_direct,
        )
        self.summary.ttl_cutoff = datetime.now(UTC) - timedelta(days=conf.get("BACKFILL_ASPECTS_TTL_DAYS"))
        self._batch: list = []  # statements, or a worker's statements ready to insert (PreparedStatements)
        self._batch_statements = 0
        self._batch_start: str | None = None  # where the first unwritten statement came from
        self._batches_written = 0
        self._uncommitted: dict[str, ReadPosition] = {}
        self._pending: list = []  # (position, line) read but not handled yet
        self.lookups = lookups or PlatformLookups()  # a worker's, kept from one of its objects to the next
        self._first_of_each_id = FirstStatementOfEachId()
        self._collection: CollectedBetweenBlocks | None = None

    def run(self, objects: list[LogObject] | None = None) -> RunSummary:
        objects = self.store.list_objects() if objects is None else objects
        progress = self.start_run(objects)
        try:
            with (
                self.lookups.installed(),
                erb_accelerated(),
                self.stopping_cleanly(),
                CollectedBetweenBlocks() as self._collection,
                self.cpu.role("reading and parsing"),  # what the roles inside do not take
            ):
                for obj in objects:
                    self._read_object(obj, progress)
                self._flush()
                self._commit_positions()
        finally:
            self.close_run()
        return self.summary

    def start_run(self, objects: list[LogObject]) -> ByteProgress:
        # Everything this process did before its first line is its start-up.
        self.cpu.start(time.process_time() if self.startup_is_this_runs else None)
        self.summary.files_total = len(objects)
        self.summary.bytes_total = sum(obj.span for obj in objects)
        self.progress = ByteProgress(
            self.summary.bytes_total,
            self.options.progress_log_interval_secs,
            quiet=self.options.quiet,
            listener=self.progress_listener,
        )
        return self.progress

    @contextmanager
    def stopping_cleanly(self):
        """A destination or the platform's database gone for good: say where the run stopped, then end."""
        try:
            yield
        except ServiceUnavailable as exc:
            failed_at = self.writer.failed.start if self.writer.failed else self._batch_start
            self.summary.stopped = (
                f"{exc}. Everything before {failed_at} was written; rerun the same command to "
                "continue from there (statements already written are not written twice)."
            )
            raise

    def close_run(self) -> None:
        self.writer.close()
        self.cpu.finish()
        add_seconds(self.summary.cpu_by_process[COMMAND], self.cpu.seconds)
        self.progress.close()
        self.dead_letters.close()
        self.summary.dead_letter_path = self.dead_letters.written_path
        self.summary.finish()

    # -- the parent of --workers: what workers hand over (see run/local.py) ---------------

    def take_statements(self, statements: list) -> None:
        """A worker's statements, written with this process's batches."""
        with self.stopping_cleanly():
            if not self._batch and statements:
                self._batch_start = f"{statements[0].source} line {statements[0].line_number}"
            self._batch.extend(statements)
            self._add_handed(len(statements))

    def take_rows(self, rows: PreparedStatements) -> None:
        """A worker's statements as rows ready to insert, written by this process's row sink."""
        with self.stopping_cleanly():
            if not self._batch:
                self._batch_start = f"{rows.first_source} line {rows.first_line}"
            self._batch.append(rows)
            self._add_handed(len(rows))

    def _add_handed(self, statements: int) -> None:
        self._batch_statements += statements
        if self._batch_statements >= self.options.batch_size:
            self._flush()

    def take_position(self, obj: LogObject, offset: int, line: int, completed: bool) -> None:
        """Committed once the statements handed before it are written (with the next batch)."""
        self._uncommitted[obj.label] = ReadPosition(obj, offset, line, finished=completed)

    def merge_result(self, result: WorkResult, written_by_worker: bool) -> None:
        self.summary.absorb(result.summary, with_writes=written_by_worker)
        self.progress.advance(result.bytes, self._status())
        if result.stopped:  # the worker's destination stopped answering: so does the run
            self.summary.stopped = result.stopped
            raise ServiceUnavailable(result.stopped)

    def finish_handoffs(self) -> None:
        with self.stopping_cleanly():
            self._flush()
            self._commit_positions()

    def _read_object(self, obj: LogObject, progress: ByteProgress) -> None:
        resume = self.checkpoints.resume_point(obj)
        if resume.completed:
            self.summary.files_already_done += 1 if obj.ends_object else 0
            progress.advance(obj.span)
            return
        if self.event_filter is not None and not self.event_filter.may_hold_events(self.store, obj):
            self.summary.files_outside_window += 1
            progress.advance(obj.span)
            return
        self._first_of_each_id = FirstStatementOfEachId()
        if resume.line:
            self.summary.files_resumed += 1
            log.info("resuming %s after line %d", obj.label, resume.line)
        progress.start_object(obj.label, obj.span)
        # A plain file resumes with a range read; a .gz one is read again and its done lines skipped.
        start_offset = 0 if obj.is_gzip else max(resume.offset, obj.range_start)
        skip_through_line = resume.line if obj.is_gzip else 0
        # A range not yet begun starts one byte early, to tell whether a line starts at its first byte.
        enter_range = obj.range_start > 0 and resume.offset == 0
        if enter_range:
            start_offset -= 1
        position = ReadPosition(obj, offset=resume.offset, line=resume.line)
        reader = None
        reported = 0
        try:
            reader = LineReader(
                self.store.opener(obj),
                gzipped=obj.is_gzip,
                start_offset=start_offset,
                first_line=1 if obj.is_gzip else resume.line + 1,
                skip_first_line=enter_range,
                stop_at=obj.range_end,
            )
            for line in reader:
                if line.number > skip_through_line:
                    self._pending.append((position, line))
                    if len(self._pending) >= LOOKUP_BLOCK_LINES:
                        self._handle_pending()
                if reader.bytes_read - reported >= 1 << 20:
                    progress.advance(reader.bytes_read - reported, self._status())
                    reported = reader.bytes_read
        except UNREADABLE_OBJECT_ERRORS as exc:
            self._handle_pending()  # what was read before the failure is good
            reason = "truncated_gzip" if isinstance(exc, EOFError) else "read_error"
            self.summary.files_failed[reason] += 1
            detail = f"{type(exc).__name__}: {self.store.failure_reason(exc)}; lines up to {position.line} were read"
            log.error("could not read all of %s: %s", obj.label, detail)
            self.dead_letters.add(source=obj.label, line_number=position.line, reason=reason, detail=detail, line=None)
        else:
            self._handle_pending()
            self.summary.files_read += 1 if obj.ends_object else 0
            position.finished = True
            self._uncommitted[obj.label] = position  # committed with the next batch, or at the end
        finally:
            if reader is not None:
                self.summary.storage_reconnects += reader.reconnects
                progress.advance(reader.bytes_read - reported, self._status())
            # A resumed, short or failed read still counts the whole part as done for the bar.
            progress.advance(obj.span - (start_offset - obj.range_start) - (reader.bytes_read if reader else 0))

    def _handle_pending(self) -> None:
        """Parse the pending lines, look their users up together, then handle them in order."""
        parsed = []
        user_keys = []
        for position, line in self._pending:
            event, skipped, user_key = self._classify(line)
            if user_key is not None and user_key is not KEY_NOT_READ:
                user_keys.append(user_key)
            parsed.append((position, line, event, skipped, user_key))
        self._pending = []
        with self.cpu.role("transforming"):
            self.lookups.prefetch_actors(user_keys, self.transformer.external_id_type)
            for position, line, event, skipped, user_key in parsed:
                # Recorded first: a batch flushed while handling this line includes its statements.
                position.line, position.offset = line.number, 0 if position.is_gzip else line.end_offset
                self._uncommitted[position.label] = position
                self._handle_line(position.label, line, event, skipped, user_key)
        del parsed
        if self._collection is not None:
            self._collection.block_done()

    def _classify(self, line) -> tuple[dict | BadLine | None, str | None, object]:
        """
        The line's event (or why it is none), why it is skipped if it is, and its user key for
        the block's look-up. Only the line's own content is read here: whatever it holds, an
        exception is about that line, which is set aside.
        """
        if line.too_long:
            return None, None, None
        try:
            event = parse_tracking_line(line.text)
            skipped = self._skip_reason(event)
        except BadLine as bad:
            return bad, None, None
        except Exception as exc:  # a line nothing above expected: kept, and the run goes on
            detail = f"{type(exc).__name__} while reading the event; please report it with the line"
            return BadLine("unreadable_event", detail), None, None
        return event, skipped, self.transformer.read_user_key(event) if skipped is None else None

    def _skip_reason(self, event: dict) -> str | None:
        """Why a well-formed event is not transformed (counted, not set aside), or None."""
        if not self.transformer.is_supported(event):
            return "unsupported"
        if self.event_filter is not None and not self.event_filter.keeps(event):
            return "outside_window"
        return None

    def _handle_line(self, source: str, line, event, skipped: str | None, user_key) -> None:
        summary = self.summary
        summary.lines += 1
        if line.invalid_utf8:
            summary.invalid_utf8_lines += 1
        if line.too_long:
            self._set_aside(source, line, "line_too_long", "the line is longer than the reader accepts")
            return
        if isinstance(event, BadLine):
            self._set_aside(source, line, event.reason, event.detail)
            return
        if skipped == "unsupported":
            summary.skipped_unsupported += 1
            return
        if skipped == "outside_window":
            summary.skipped_outside_window += 1
            return
        try:
            statements = self.transformer.transform(event, source, line.number, user_key)
        except TransformFailure as failure:
            self._set_aside(source, line, failure.reason, failure.detail)
            return
        except DirectPathMismatch as mismatch:
            self._set_aside(source, line, "fast_path_differs", str(mismatch))
            self.summary.stopped = str(mismatch)
            raise
        if (first_line := self._first_of_each_id.conflict(statements, line.number)) is not None:
            self._set_aside(
                source,
                line,
                "duplicate_statement_id",
                f"line {first_line} of the same file, a different event of the same learner at the same time, made "
                "a statement with this id (ERB's ids hash the verb, the learner and the time); the first is kept",
            )
            return
        summary.events_transformed += 1
        if self.transformer.last_path != "erb":
            summary.events_direct += 1
            summary.events_verified += self.transformer.last_path == "direct, verified"
        summary.statements_made += len(statements)
        summary.note_statement_times(statements)
        if not self._batch:
            self._batch_start = f"{source} line {line.number}"
        self._batch.extend(statements)
        self._batch_statements += len(statements)
        if self._batch_statements >= self.options.batch_size:
            self._flush()

    def _write(self, batch: list):
        """A batch of statements, or of rows workers made ready (then the row sink takes them)."""
        if batch and isinstance(batch[0], PreparedStatements):
            assert self.row_sink is not None, "rows are handed over only to a process with a row sink"
            return self.row_sink.write_rows(batch)
        return self.sink.write(batch)

    def _set_aside(self, source: str, line, reason: str, detail: str) -> None:
        self.summary.bad_lines[reason] += 1
        self.dead_letters.add(source=source, line_number=line.number, reason=reason, detail=detail, line=line.text)

    def _flush(self) -> None:
        """Hand the batch to the writer thread, with copies of the positions it covers."""
        if not self._batch:
            return
        if self._batches_written and self.options.sleep_between_batches_secs > 0:
            time.sleep(self.options.sleep_between_batches_secs)
        in_flight = BatchInFlight(self._batch_start, [replace(p) for p in self._uncommitted.values()])
        statements = self._batch
        self._batch, self._batch_start, self._uncommitted, self._batch_statements = [], None, {}, 0
        self._batches_written += 1
        self._settle(self.writer.wait())  # the batch before this one
        self.writer.submit(statements, in_flight)

    def _settle(self, settled: Settled | None) -> None:
        """A batch is written: count it, set aside what was refused, then commit its positions."""
        if settled is None:
            return
        result = settled.result
        self.summary.statements_written += result.written
        self.summary.statements_already_present += result.already_present
        self.summary.statements_compared_by_id_only += result.compared_by_id_only
        for refused in result.rejected:
            self.summary.statements_rejected += 1
            self.dead_letters.add(
                source=refused.statement.source,
                line_number=refused.statement.line_number,
                reason="rejected_by_destination",
                detail=refused.reason,
                line=refused.statement.json,
            )
        for drift in result.replaced:
            self.summary.note_drift(drift.kind, drift.verb, behind(drift.differs_at), replaced=True)
        for drift in result.drifted:
            self.summary.note_drift(drift.kind, drift.verb, behind(drift.differs_at))
            self.dead_letters.add(
                source=drift.source,
                line_number=drift.line_number,
                reason=DRIFT_REASONS[drift.kind],
                detail=set_aside_detail(drift.found_id, drift.differs_at, drift.newer),
                line=drift.json,
            )
        for position in settled.attached.positions:
            self.checkpoints.commit(position.obj, position.offset, position.line, position.finished)

    def _commit_positions(self) -> None:
        """Positions of lines whose statements are all written: after the batch in flight lands."""
        self._settle(self.writer.wait())
        for position in self._uncommitted.values():
            self.checkpoints.commit(position.obj, position.offset, position.line, position.finished)
        self._uncommitted = {}

    def _status(self) -> str:
        return f"{self.summary.lines} lines, {self.summary.statements_made} statements"
