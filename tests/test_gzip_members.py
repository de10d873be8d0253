"""The one gzip member scanner: every member found with its end, however the file's reads fall."""
from __future__ import annotations

import gzip
import io
import random

from archiver.gzip_members import CHUNK, find_member, inflate, iter_members, member_end


def members(count: int, seed: int = 3) -> tuple[bytes, list[int], list[bytes]]:
    rng = random.Random(seed)
    data, offsets, plain = io.BytesIO(), [], []
    for n in range(count):
        body = b"WARC/1.1\r\n" + rng.randbytes(rng.randint(0, 900)) * rng.randint(1, 3)
        offsets.append(data.tell())
        plain.append(body)
        data.write(gzip.compress(body))
    return data.getvalue(), offsets, plain


def test_every_member_is_found_whatever_the_read_boundaries():
    data, offsets, plain = members(3000)  # many gzip trailers fall across CHUNK-sized reads
    assert len(data) > 10 * CHUNK
    found = list(iter_members(io.BytesIO(data)))
    assert [m.start for m in found] == offsets
    assert [m.end for m in found] == [*offsets[1:], len(data)]
    assert [m.size for m in found] == [len(p) for p in plain] and not any(m.error for m in found)
    assert member_end(io.BytesIO(data), offsets[1234]) == offsets[1235]


def test_damage_and_search():
    data, offsets, _ = members(20)
    cut = data[:offsets[5] + 20]
    *whole, last = iter_members(io.BytesIO(cut))
    assert len(whole) == 5 and last.start == offsets[5] and last.error[0] == "cut_gzip" and last.end is None
    broken = bytearray(data)
    broken[offsets[7] + 10] = 0x07  # a deflate block of the reserved type
    *_, bad = iter_members(io.BytesIO(bytes(broken)))
    assert bad.start == offsets[7] and bad.error[0] == "unreadable"
    assert find_member(io.BytesIO(bytes(broken)), offsets[7] + 1, lambda head: head.startswith(b"WARC/")) == offsets[8]


def test_inflate_stops_at_its_cap():
    bomb = gzip.compress(b"\0" * 20_000_000) + gzip.compress(b"more")
    assert len(inflate(bomb, 1_000_000)) == 1_000_000
    assert inflate(gzip.compress(b"a") + b"\0\0" + gzip.compress(b"b"), 100) == b"ab"
