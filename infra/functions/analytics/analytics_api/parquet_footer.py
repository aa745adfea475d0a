"""Row counts of Parquet files from their footers, without pyarrow (too big for this Lambda).

A Parquet file ends with ``<FileMetaData, Thrift compact protocol><4-byte length>PAR1``; field 3 of
FileMetaData is ``num_rows``. Reading it needs one ranged GET of the file's tail and a small
compact-protocol reader that can skip the fields before it (version, the schema list).
"""

from __future__ import annotations

TAIL_BYTES = 64 * 1024
MAGIC = b"PAR1"


class FooterError(ValueError):
    """Not a Parquet file, or a footer this reader cannot parse."""


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise FooterError("footer ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise FooterError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, kind: int) -> None:
        if kind in (1, 2):  # booleans live in the field header
            return
        if kind == 3:
            self.pos += 1
        elif kind in (4, 5, 6):
            self.varint()
        elif kind == 7:
            self.pos += 8
        elif kind == 8:
            length = self.varint()  # read first: `self.pos += self.varint()` would lose the varint's bytes
            self.pos += length
        elif kind in (9, 10):
            header = self.byte()
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                self.skip_element(element)
        elif kind == 11:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.skip_element(types >> 4)
                    self.skip_element(types & 0x0F)
        elif kind == 12:
            self.skip_struct()
        else:
            raise FooterError(f"unknown compact type {kind}")

    def skip_element(self, kind: int) -> None:
        if kind in (1, 2):  # a boolean inside a collection takes one byte
            self.pos += 1
        else:
            self.skip(kind)

    def fields(self):
        """(field id, type) of each field of the struct at the cursor, leaving the value to the caller."""
        last = 0
        while True:
            header = self.byte()
            if header == 0:
                return
            delta, kind = header >> 4, header & 0x0F
            last = last + delta if delta else self.zigzag()
            yield last, kind

    def skip_struct(self) -> None:
        for _, kind in self.fields():
            self.skip(kind)


def num_rows(metadata: bytes) -> int:
    """``num_rows`` of a serialised FileMetaData."""
    reader = _Reader(metadata)
    for field_id, kind in reader.fields():
        if field_id == 3 and kind == 6:
            return reader.zigzag()
        reader.skip(kind)
    raise FooterError("FileMetaData has no num_rows")


def rows_in_object(s3, bucket: str, key: str) -> int:
    """Rows in one Parquet object: one ranged GET (two when the footer is larger than 64 KB)."""
    tail = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{TAIL_BYTES}")["Body"].read()
    if len(tail) < 12 or tail[-4:] != MAGIC:
        raise FooterError(f"s3://{bucket}/{key} is not a Parquet file")
    length = int.from_bytes(tail[-8:-4], "little")
    if length + 8 > len(tail):
        tail = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{length + 8}")["Body"].read()
    return num_rows(tail[-8 - length:-8])
