"""Reading bytes into lines: gzip (read ahead in a thread), chunk boundaries, rotation order, runaway lines."""

from __future__ import annotations

import gzip
import threading

import pytest

from backfill_app.sources import lines as lines_module
from backfill_app.sources.lines import LineReader
from backfill_app.sources.storage import rotation_order
from backfill_app.sources.tracking_log import BadLine, parse_tracking_line


def chunked(data: bytes, size: int):
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_multibyte_character_split_across_chunks_is_decoded_whole():
    data = '{"name": "caf\u00e9 \u2603 \U0001f600"}\n'.encode()
    for size in range(1, 8):  # every split point, including inside each character
        (line,) = list(LineReader(lambda _, size=size: chunked(data, size), gzipped=False))
        assert line.text == '{"name": "caf\u00e9 \u2603 \U0001f600"}' and not line.invalid_utf8


def test_gzip_of_several_members_is_read_to_the_end_in_small_chunks():
    data = gzip.compress(b"a\nb\n") + gzip.compress(b"c\n")  # `cat x.gz y.gz` is a valid gzip
    assert [line.text for line in LineReader(lambda _: chunked(data, 3), gzipped=True)] == ["a", "b", "c"]


def test_line_numbers_count_blank_lines_and_a_last_line_without_newline():
    read = list(LineReader(lambda _: [b"one\r\n\n  \nfour"], gzipped=False))
    assert [(line.number, line.text) for line in read] == [(1, "one"), (4, "four")]


def test_a_runaway_line_is_cut_and_flagged_and_the_next_line_survives(monkeypatch):
    monkeypatch.setattr(lines_module, "MAX_LINE_BYTES", 16)
    monkeypatch.setattr(lines_module, "BUFFER_BYTES", 16)
    read = list(LineReader(lambda _: [b"x" * 100 + b"\n" + b"next\n"], gzipped=False))
    assert [(line.number, line.too_long) for line in read] == [(1, True), (2, False)]
    assert read[1].text == "next"


def test_rotated_files_sort_oldest_first_and_the_live_file_last():
    names = ["tracking.log", "tracking.log.1", "tracking.log.10.gz", "tracking.log.2.gz"]
    assert sorted(names, key=rotation_order) == [
        "tracking.log.10.gz",
        "tracking.log.2.gz",
        "tracking.log.1",
        "tracking.log",
    ]
    dated = ["tracking.log", "tracking.log-20230102.gz", "tracking.log-20230101.gz"]
    assert sorted(dated, key=rotation_order) == ["tracking.log-20230101.gz", "tracking.log-20230102.gz", "tracking.log"]


def test_event_as_a_json_string_becomes_data_and_time_becomes_timestamp():
    event = parse_tracking_line('prefix - {"name": "x", "event": "{\\"a\\": 1}", "time": "2024-01-01T00:00:00+00:00"}')
    assert event["data"] == {"a": 1} and event["timestamp"] == "2024-01-01T00:00:00+00:00"
    browser = parse_tracking_line('{"name": "problem_check", "event": "input_1=choice_0", "time": "t"}')
    assert browser["data"] == "input_1=choice_0"


def test_bad_lines_have_a_reason():
    for text, reason in [
        ("no json here", "not_json"),
        ('{"name": "x", "event": {}', "truncated_line"),
        ('{"name": "x", "event": {}} trailing', "truncated_line"),
        ('{"name": "x" "event": {}}', "bad_json"),
        ('{"name": "x"}', "no_event"),
    ]:
        try:
            parse_tracking_line(text)
        except BadLine as bad:
            assert bad.reason == reason, text
        else:
            raise AssertionError(f"{text!r} was accepted")


def test_byte_ranges_share_out_every_line_exactly_once_wherever_they_are_cut():
    lines = [f'{{"n": {i}, "pad": "{"x" * (i % 7)}"}}' for i in range(12)]
    data = ("\n".join(lines) + "\n").encode()

    def read_range(start: int, end: int | None) -> list[str]:
        reader = LineReader(
            lambda offset: [data[offset:]],
            gzipped=False,
            start_offset=max(0, start - 1) if start else 0,
            skip_first_line=start > 0,
            stop_at=end,
        )
        return [line.text for line in reader]

    for cut in range(1, len(data)):  # every cut point: inside a line, on a newline, at a line start
        assert read_range(0, cut) + read_range(cut, None) == lines, cut
    for first, second in ((10, 40), (37, 38), (1, 200)):  # three ranges
        assert read_range(0, first) + read_range(first, second) + read_range(second, None) == lines


def test_a_large_plain_file_splits_into_ranges_and_a_gz_file_does_not():
    from backfill_app.sources.storage import LogObject

    plain = LogObject("tracking.log", 1000, "e", None)
    parts = plain.split(300)
    assert [(p.range_start, p.range_end) for p in parts] == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    assert [p.label for p in parts][1] == "tracking.log@300-600" and parts[-1].ends_object
    assert LogObject("tracking.log.2.gz", 1000, "e", None).split(300)[0].range_end is None


def big_log(lines: int = 60_000) -> bytes:
    """About 3 MB of lines: several of the blocks a gzip object is decompressed by, ahead of its reader."""
    return b"".join(b'{"n": %d, "pad": "%s"}\n' % (number, b"x" * (number % 70)) for number in range(lines))


def test_a_gzip_object_read_ahead_in_a_thread_gives_every_line_in_order():
    data = big_log()
    plain = [(line.number, line.text) for line in LineReader(lambda _: chunked(data, 65_536), gzipped=False)]
    packed = gzip.compress(data, compresslevel=1)
    for read_ahead in (True, False):
        reader = LineReader(lambda _: chunked(packed, 65_536), gzipped=True, read_ahead=read_ahead)
        assert [(line.number, line.text) for line in reader] == plain


def test_a_cut_gzip_object_gives_its_lines_up_to_the_cut_then_the_error():
    packed = gzip.compress(big_log(), compresslevel=1)
    reader = LineReader(lambda _: [packed[: len(packed) // 2]], gzipped=True)
    numbers = []
    with pytest.raises(EOFError):
        for line in reader:
            numbers.append(line.number)
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 10_000


def test_a_reader_that_stops_early_leaves_no_thread_reading():
    packed = gzip.compress(big_log(), compresslevel=1)
    reader = LineReader(lambda _: chunked(packed, 65_536), gzipped=True)  # kept, as a caller may keep it
    lines = iter(reader)
    assert next(lines).number == 1
    assert any(thread.name == "backfill-read-ahead" for thread in threading.enumerate())
    lines.close()  # what a for loop that stops does, or dropping the reader
    assert not any(thread.name == "backfill-read-ahead" for thread in threading.enumerate())
