"""The cb81 frames: the vendor's worked examples, and property-based parser robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locker_bridge.protocol import CB81, Frame, FrameError, Profile, StreamParser, decode, from_hex, to_hex

VENDOR_STOP = "81 01 02 52 06 5B 00 FA"
VENDOR_REPLY = "81 01 03 53 06 00 5D 00 FA"


@pytest.mark.parametrize(("frame", "text"), [
    (Frame(1, 0x50, 6), "81 01 02 50 06 59 00 FA"),
    (Frame(1, 0x52, 6), VENDOR_STOP),
    (Frame(1, 0x53, 6, b"\x00"), VENDOR_REPLY),
    (Frame(2, 0x56, 12), "81 02 02 56 0C 66 00 FA"),
])
def test_worked_examples_of_the_protocol_doc(frame: Frame, text: str) -> None:
    assert frame.hex() == text
    assert decode(from_hex(text)) == frame


def test_reply_fields() -> None:
    reply = decode(from_hex(VENDOR_REPLY))
    assert (reply.address, reply.command, reply.bay, reply.status) == (1, 0x53, 6, 0)
    assert CB81.name_of(reply.command) == "STOP_CHARGING_REPLY"


@pytest.mark.parametrize(("text", "why"), [
    ("81 01 02 52 06 5C 00 FA", "checksum"),
    ("81 01 02 52 06 5B 00 FB", "end"),
    ("80 01 02 52 06 5B 00 FA", "start"),
    ("81 01 03 52 06 5B 00 FA", "LEN"),
    ("81 01", "short"),
])
def test_decode_says_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        decode(from_hex(text))


def test_parser_resyncs_after_garbage_and_partial_frames() -> None:
    parser = StreamParser()
    stream = b"\x00\x81\x81\xff" + from_hex(VENDOR_STOP)[:5]
    assert parser.feed(stream, now=0.0) == []
    frames = parser.feed(from_hex(VENDOR_STOP)[5:] + b"\x13\x37" + from_hex(VENDOR_REPLY), now=0.01)
    assert frames == [decode(from_hex(VENDOR_STOP)), decode(from_hex(VENDOR_REPLY))]
    assert parser.stats.resyncs == 6 and parser.stats.frames == 2


def test_bad_checksum_is_counted_and_the_next_frame_found() -> None:
    parser = StreamParser()
    frames = parser.feed(from_hex("81 01 02 52 06 5C 00 FA") + from_hex(VENDOR_REPLY))
    assert frames == [decode(from_hex(VENDOR_REPLY))]
    assert parser.stats.checksum_errors == 1


def test_local_echo_is_skipped_once() -> None:
    parser = StreamParser()
    sent = from_hex(VENDOR_STOP)
    parser.expect_echo(sent)
    assert parser.feed(sent + from_hex(VENDOR_REPLY)) == [decode(from_hex(VENDOR_REPLY))]
    assert parser.stats.echoes == 1
    assert parser.feed(sent) == [decode(sent)]  # a second copy is a real frame


def test_a_stale_partial_frame_is_given_up() -> None:
    parser = StreamParser()
    parser.feed(from_hex(VENDOR_STOP)[:4], now=0.0)
    assert parser.feed(from_hex(VENDOR_REPLY), now=1.0) == [decode(from_hex(VENDOR_REPLY))]
    assert parser.stats.timeouts == 1


def test_another_board_family_is_configuration() -> None:
    other = Profile(name="xor", sof=0xAA, eof=0x55, checksum="xor8",
                    opcodes={"OPEN_DOOR": 0x10, "EVENT": 0x20})
    raw = Frame(3, 0x10, 4).encode(other)
    assert raw == bytes([0xAA, 3, 2, 0x10, 4, 3 ^ 2 ^ 0x10 ^ 4, 0x55])
    assert StreamParser(other).feed(raw) == [Frame(3, 0x10, 4)]
    assert to_hex(raw) == "AA 03 02 10 04 15 55"


frames = st.builds(Frame, address=st.integers(1, 31), command=st.integers(0, 255),
                   bay=st.integers(0, 48), data=st.binary(max_size=30))
noise = st.binary(max_size=40).map(lambda b: bytes(x for x in b if x != CB81.sof))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(1, 64), max_size=40))
def test_random_bytes_never_crash_the_parser(data: bytes, cuts: list[int]) -> None:
    parser = StreamParser()
    pos, now = 0, 0.0
    for cut in cuts + [len(data)]:
        for frame in parser.feed(data[pos:pos + cut], now=now):
            assert decode(frame.encode()) == frame
        pos += cut
        now += 0.001
    assert parser.pending <= CB81.max_len + CB81.overhead or parser.pending <= len(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(noise, frames), min_size=1, max_size=20), noise,
       st.integers(1, 17))
def test_valid_frames_hidden_in_noise_are_all_found(parts: list[tuple[bytes, Frame]], tail: bytes,
                                                    chunk: int) -> None:
    stream = b"".join(n + f.encode() for n, f in parts) + tail
    parser = StreamParser()
    found = []
    for i in range(0, len(stream), chunk):
        found.extend(parser.feed(stream[i:i + chunk], now=0.0))
    assert found == [f for _, f in parts]
