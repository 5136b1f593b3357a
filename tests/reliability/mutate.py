"""Random edits of a valid file, for fuzzing what reads it."""

from __future__ import annotations

from hypothesis import strategies as st

# Bytes that mean something to a mail, CSV or zip reader.
INSERTS = [
    b"\r\n", b"\n\n", b"\r", b"--", b"=?utf-8?b?", b"=\r\n", b"\xff\xfe", b"\xef\xbb\xbf",
    b"<", b">", b'"', b",", b";", b"\t", b"PK\x03\x04", b"\x00",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, raw: bytes) -> bytes:
    """`raw` with a few random edits: bytes flipped, cut, inserted, lines dropped."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["flip", "cut", "insert", "drop_line", "truncate"]))
        if edit == "flip":
            data[at] = draw(st.integers(0, 255))
        elif edit == "cut":
            del data[at : at + draw(st.integers(1, 40))]
        elif edit == "insert":
            data[at:at] = draw(
                st.one_of(
                    st.binary(max_size=20),
                    st.sampled_from(INSERTS),
                )
            )
        elif edit == "drop_line":
            end = data.find(b"\n", at)
            del data[at : end + 1 if end >= 0 else len(data)]
        else:
            del data[at:]
    return bytes(data)
