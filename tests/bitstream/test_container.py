import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmc.bitstream import (
    Chunk,
    ContainerWriter,
    FieldReader,
    FieldWriter,
    atomic_write_bytes,
    iter_chunks,
    pack,
    read_file,
    read_preamble,
    unpack,
)
from nmc.errors import BitstreamError, InputError

kinds = st.text(alphabet=st.characters(min_codepoint=65, max_codepoint=90), min_size=4, max_size=4)
chunks = st.lists(st.builds(Chunk, kinds, st.binary(max_size=64)), max_size=6)


@given(codec_id=st.integers(0, 65535), header=st.binary(max_size=32), body=chunks)
@settings(max_examples=100, deadline=None)
def test_pack_unpack_round_trip(codec_id, header, body):
    container = unpack(pack(codec_id, header, body))
    assert container.codec_id == codec_id
    assert container.header == header
    assert list(container.chunks) == body
    assert [c.size for c in container.table] == [len(c.payload) for c in body]


def test_streaming_writer_is_atomic(tmp_path):
    target = tmp_path / "out.nmc"
    with ContainerWriter(target, 7, b"hdr") as writer:
        writer.write_chunk("IFRM", b"abc")
        assert not target.exists(), "the final name must not appear before close"
    assert read_file(target).chunks == (Chunk("IFRM", b"abc"),)
    assert [p.name for p in tmp_path.iterdir()] == ["out.nmc"]


def test_writer_discards_on_error(tmp_path):
    target = tmp_path / "out.nmc"
    with pytest.raises(RuntimeError), ContainerWriter(target, 7, b"") as writer:
        writer.write_chunk("IFRM", b"abc")
        raise RuntimeError("encoder failed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_old_file_until_done(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(InputError, match="does not exist"):
        atomic_write_bytes(tmp_path / "missing" / "x.bin", b"")


def test_rejects_bad_magic_version_and_crc():
    good = pack(3, b"h", [Chunk("DATA", b"payload")])
    with pytest.raises(BitstreamError, match="not an nmc file"):
        unpack(b"RIFF" + good[4:])
    newer = bytearray(good)
    newer[4] = 2
    with pytest.raises(BitstreamError, match="version 2"):
        unpack(bytes(newer))
    damaged = bytearray(good)
    damaged[-12 - 4 - 3] ^= 0x40  # inside the DATA payload (END chunk is 12 bytes)
    with pytest.raises(BitstreamError, match=r"chunk 0 \('DATA'\).*CRC"):
        unpack(bytes(damaged))
    with pytest.raises(BitstreamError, match="truncated"):
        unpack(good[:-3])


def test_huge_declared_length_is_not_allocated():
    good = bytearray(pack(1, b"", [Chunk("DATA", b"x")]))
    offset = len(good) - 13 - 12
    good[offset + 4 : offset + 8] = (0xFFFFFFF0).to_bytes(4, "little")
    with pytest.raises(BitstreamError, match="declares"):
        unpack(bytes(good))


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_file(tmp_path / "nope.nmc")


def test_preamble_crc_covers_header():
    data = bytearray(pack(1, b"header", []))
    data[13] ^= 1
    with pytest.raises(BitstreamError, match="codec header"):
        unpack(bytes(data))
    assert zlib.crc32(b"") == 0


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20), st.text(max_size=20))
def test_fields_round_trip(values, text):
    out = FieldWriter()
    for v in values:
        out.svarint(v)
    out.text(text).u16(513).f32(1.5)
    src = FieldReader(out.getvalue())
    assert [src.svarint() for _ in values] == values
    assert src.text() == text
    assert (src.u16(), src.f32()) == (513, 1.5)
    src.expect_end()


def test_field_reader_errors_name_the_structure():
    src = FieldReader(b"\x05ab", what="chunk 2 (PFRM)")
    with pytest.raises(BitstreamError, match=r"chunk 2 \(PFRM\): blob length = 5 exceeds"):
        src.blob()
    with pytest.raises(BitstreamError, match="malformed"):
        FieldReader(b"\xff" * 11).uvarint()


def test_chunks_stream_from_an_open_file(tmp_path):
    body = [Chunk("IFRM", b"a" * 100), Chunk("PFRM", b"b" * 7)]
    path = tmp_path / "s.nmc"
    path.write_bytes(pack(1, b"hdr", body))
    with path.open("rb") as fh:
        assert read_preamble(fh) == (1, 0, 1, b"hdr")
        assert [chunk for _, chunk in iter_chunks(fh)] == body
    path.write_bytes(pack(1, b"hdr", body)[:-20])
    with path.open("rb") as fh, pytest.raises(BitstreamError, match=r"chunk 1 \('PFRM'\)"):
        list(iter_chunks(fh))


def test_atomic_output_has_default_permissions(tmp_path):
    target = tmp_path / "shared.nmc"
    atomic_write_bytes(target, b"x")
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_writes_without_unnamed_files(tmp_path, monkeypatch):
    """Where O_TMPFILE is missing a hidden .part file is used, and removed on failure."""
    from nmc.bitstream import AtomicFile

    monkeypatch.setattr(AtomicFile, "_anonymous", staticmethod(lambda folder: None))
    target = tmp_path / "x.nmc"
    atomic_write_bytes(target, b"data")
    assert target.read_bytes() == b"data"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    with pytest.raises(RuntimeError), ContainerWriter(tmp_path / "y.nmc", 1, b"") as writer:
        writer.write_chunk("DATA", b"x")
        assert len(list(tmp_path.glob(".y.nmc.*.part"))) == 1
        raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nmc"]


def test_unnamed_file_is_copied_where_it_cannot_be_linked(tmp_path, monkeypatch):
    import os

    from nmc.bitstream import atomic

    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(atomic, "_flink", refuse)
    monkeypatch.setattr(os, "link", refuse)
    target = tmp_path / "x.nmc"
    atomic_write_bytes(target, b"payload" * 5000)
    assert target.read_bytes() == b"payload" * 5000
    assert [p.name for p in tmp_path.iterdir()] == ["x.nmc"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_output_checks_name_the_problem(tmp_path):
    from nmc.bitstream import check_output

    (tmp_path / "folder.nmc").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        atomic_write_bytes(tmp_path / "folder.nmc", b"")
    with pytest.raises(InputError, match="does not exist"):
        check_output(tmp_path / "missing" / "x.nmc")
    assert check_output(tmp_path / "ok.nmc") == tmp_path / "ok.nmc"
