"""pipeline.spill: chunks kept to a few bytes in memory, the rest on disk, read back whole and in order."""

import zlib

import pytest

from pipeline import spill


@pytest.fixture
def small(monkeypatch, spill_files):
    monkeypatch.setattr(spill, "SPILL_BYTES", 100)
    return spill_files


def test_a_chunk_list_keeps_its_chunks_in_order_across_the_disk(small):
    chunks = [bytes([i]) * (7 + i) for i in range(40)]
    kept = spill.ChunkList()
    kept.extend(chunks)
    assert len(small) == 1 and small[0].size > 0            # went to disk...
    assert kept._mem_bytes <= spill.SPILL_BYTES              # ...keeping at most SPILL_BYTES in memory
    assert list(kept) == chunks and len(kept) == 40
    assert kept[1::3] == chunks[1::3] and list(kept.every(2, 5)) == chunks[2::5]
    assert kept[5] == chunks[5] and kept[::-1] == chunks[::-1]


def test_a_copy_shares_the_file_and_grows_apart(small):
    a = spill.ChunkList()
    a.extend(b"a" * 30 for _ in range(10))
    b = a.copy()
    a.extend([b"x" * 60] * 3)
    b.append(b"y")
    assert len(small) == 1                                  # one file for both
    assert list(a) == [b"a" * 30] * 10 + [b"x" * 60] * 3
    assert list(b) == [b"a" * 30] * 10 + [b"y"]


def test_keyed_chunks_keep_each_key_in_one_partition_in_order(small):
    keyed = spill.KeyedChunks()
    elements = [(f"k{i % 9}".encode(), f"<{i}>".encode()) for i in range(200)]
    for key, element in elements:
        keyed.add(key, element)
    assert len(small) == 1
    found = {}
    for p in range(spill.PARTITIONS):
        data = keyed.read(p).decode()
        for key, element in elements:
            if element.decode() in data:
                found.setdefault(key, set()).add(p)
    assert all(len(ps) == 1 for ps in found.values()) and len(found) == 9   # a key never straddles
    p = next(iter(found[b"k3"]))
    mine = [e.decode() for k, e in elements if zlib_part(k) == p]
    assert keyed.read(p).decode() == "".join(mine)                            # in the order they came


def zlib_part(key: bytes) -> int:
    return zlib.crc32(key) % spill.PARTITIONS


def test_a_dropped_partition_cannot_be_read_again(small):
    keyed = spill.KeyedChunks()
    keyed.add(b"k", b"v" * 300)
    p = zlib_part(b"k")
    assert keyed.read(p) == b"v" * 300
    keyed.drop(p)
    with pytest.raises(RuntimeError, match="read again"):
        keyed.read(p)


def test_keyed_chunks_extend_by_partition(small):
    a, b = spill.KeyedChunks(), spill.KeyedChunks()
    a.add(b"k", b"1" * 80)
    b.add(b"k", b"2" * 80)
    b.add(b"j", b"3")
    a.extend(b)
    assert a.read(zlib_part(b"k")).startswith(b"1" * 80 + b"2" * 80)
    assert b"3" in a.read(zlib_part(b"j"))


def test_a_short_read_is_an_error(tmp_path):
    f = spill.SpillFile()
    at = f.write(b"abc")
    assert f.read(*at) == b"abc"
    with pytest.raises(OSError, match="cut short"):
        f.read(0, 10)
