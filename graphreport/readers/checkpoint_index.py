"""Checkpoint ``.index`` reader (TF1 ``tf.train.Saver`` V2 and TF2 object-based checkpoints), without TensorFlow.

A tensor bundle's index is a LevelDB-style sorted table:

- the last 48 bytes are the footer: the metaindex block handle and the index block handle (each a pair of
  varint64 ``offset, size``), zero padding, and the magic number 0xdb4775248b80fb57 (little-endian fixed64);
- a block is ``size`` bytes of entries followed by a 5-byte trailer: a compression byte (0 = none,
  1 = snappy) and the masked CRC-32C of the block and that byte;
- a block's entries are prefix-compressed: varint32 ``shared``, ``non_shared``, ``value_length``, then
  ``non_shared`` key bytes (appended to the first ``shared`` bytes of the previous key) and the value; the
  block ends with an array of uint32 restart offsets and their count;
- the index block maps a separator key per data block to that block's handle.

The entry with the empty key is the ``BundleHeaderProto`` (number of data shards, endianness); every other
key is a tensor name (a TF1 variable name, or a TF2 key such as ``layer_with_weights-0/kernel/.ATTRIBUTES/
VARIABLE_VALUE``) whose value is a ``BundleEntryProto``: dtype, shape, data shard, offset and size in bytes.

Everything read from the file is bounds-checked against the file size; damaged or hostile files raise
BadModelError with a one-line message. Work is linear in the file size: data blocks must come in file order
without overlapping, so no byte is parsed twice.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Optional

from google.protobuf.message import DecodeError

from ..errors import BadModelError, LimitError
from ..model import Variable
from . import tfproto
from .graphdef import shape_of
from .tfproto import dtype_name

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two block handles of at most 10 + 10 bytes each, padded to 40, plus the 8-byte magic
TRAILER_SIZE = 5
MAX_INDEX_BYTES = 512 * 1024**2
MAX_CRC_BYTES = 64 * 1024**2  # checksums are verified up to this many block bytes (pure Python CRC-32C)
MAX_KEY_BYTES = 16 * 1024  # a tensor name longer than this is damage
KEY_BYTES_PER_FILE_BYTE = 64  # prefix-compressed keys may expand to at most this many bytes per file byte
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
COMPRESSION = {0: None, 1: "snappy", 2: "zlib", 3: "zstd"}


@dataclass
class BundleEntry:
    name: str
    dtype: Optional[str]
    shape: Optional[list]
    shard_id: int
    offset: int
    size: int
    sliced: bool = False  # a partitioned variable: its data is in the slice entries


@dataclass
class CheckpointIndex:
    path: str
    num_shards: int
    endianness: str  # "little" | "big"
    version: Optional[int]  # BundleHeaderProto.version.producer
    entries: dict[str, BundleEntry] = field(default_factory=dict)  # every key but the header
    variables: dict[str, Variable] = field(default_factory=dict)  # tensor entries, without the object graph

    @property
    def header(self) -> dict:
        return {"num_shards": self.num_shards, "endianness": self.endianness, "version": self.version}

    @property
    def total_bytes(self) -> int:
        return sum(v.nbytes or 0 for v in self.variables.values())

    def data_files(self) -> list[str]:
        """Names of the data shards the index refers to (``prefix.data-00000-of-00001`` ...)."""
        prefix = self.path[: -len(".index")] if self.path.endswith(".index") else self.path
        return [f"{prefix}.data-{i:05d}-of-{self.num_shards:05d}" for i in range(self.num_shards)]


# --------------------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli), as LevelDB tables use it, masked
def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------------------
class _Reader:
    def __init__(self, data: bytes, path: str):
        self.data = data
        self.path = path
        self.crc_budget = MAX_CRC_BYTES
        self.crc_skipped = False
        self.key_budget = KEY_BYTES_PER_FILE_BYTE * len(data) + 1024**2

    def fail(self, what: str) -> BadModelError:
        return BadModelError(f"damaged checkpoint index: {what}", self.path)

    def varint(self, buf: bytes, pos: int, end: int, bits: int = 64) -> tuple[int, int]:
        result, shift = 0, 0
        limit = min(end, pos + (10 if bits == 64 else 5))
        while pos < limit:
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                if result >> bits:
                    raise self.fail("a varint overflows")
                return result, pos
            shift += 7
        raise self.fail("a varint runs past its block")

    def handle(self, buf: bytes, pos: int, end: int, what: str) -> tuple[int, int, int]:
        offset, pos = self.varint(buf, pos, end)
        size, pos = self.varint(buf, pos, end)
        limit = len(self.data) - FOOTER_SIZE
        if offset > limit or size > limit or offset + size + TRAILER_SIZE > limit:
            raise self.fail(f"the {what} block handle (offset {offset}, size {size}) points outside the file "
                            f"({len(self.data)} bytes)")
        return offset, size, pos

    def block(self, offset: int, size: int, what: str) -> bytes:
        trailer = self.data[offset + size: offset + size + TRAILER_SIZE]
        kind = trailer[0]
        if kind != 0:
            name = COMPRESSION.get(kind)
            raise BadModelError(
                f"the checkpoint index's {what} block is {name}-compressed; graphreport reads uncompressed "
                "tables only (TensorFlow writes them uncompressed)" if name else
                f"damaged checkpoint index: the {what} block has unknown compression type {kind}", self.path)
        body = self.data[offset: offset + size]
        if self.crc_budget >= size:
            self.crc_budget -= size
            want = unmask_crc(struct.unpack_from("<I", trailer, 1)[0])
            if crc32c(trailer[:1], crc32c(body)) != want:
                raise self.fail(f"the {what} block at offset {offset} fails its checksum")
        else:
            self.crc_skipped = True
        return body

    def entries(self, block: bytes, what: str):
        """Yields (key, value) of one block; keys must increase strictly."""
        n = len(block)
        if n < 4:
            raise self.fail(f"the {what} block is {n} bytes, too small for its restart count")
        num_restarts = struct.unpack_from("<I", block, n - 4)[0]
        if num_restarts > (n - 4) // 4:
            raise self.fail(f"the {what} block claims {num_restarts} restart points in {n} bytes")
        end = n - 4 - 4 * num_restarts
        pos, key = 0, b""
        while pos < end:
            shared, pos = self.varint(block, pos, end, 32)
            non_shared, pos = self.varint(block, pos, end, 32)
            vlen, pos = self.varint(block, pos, end, 32)
            if shared > len(key) or non_shared > end - pos or vlen > end - pos - non_shared:
                raise self.fail(f"an entry of the {what} block runs past the block")
            if shared + non_shared > MAX_KEY_BYTES:
                raise self.fail(f"a key of {shared + non_shared} bytes (longer than {MAX_KEY_BYTES})")
            self.key_budget -= shared + non_shared
            if self.key_budget < 0:
                raise self.fail("its prefix-compressed keys expand to far more bytes than the file holds")
            new_key = key[:shared] + block[pos: pos + non_shared]
            pos += non_shared
            value = block[pos: pos + vlen]
            pos += vlen
            yield new_key, value
            key = new_key


def parse_table(data: bytes, path: str, stats: Optional[dict] = None) -> list[tuple[bytes, bytes]]:
    """All (key, value) pairs of a LevelDB-style table, in key order. ``stats`` (if given) receives the
    number of data blocks and whether every checksum was verified."""
    r = _Reader(data, path)
    if len(data) < FOOTER_SIZE:
        raise r.fail(f"the file is {len(data)} bytes, shorter than a table footer ({FOOTER_SIZE} bytes)")
    footer_at = len(data) - FOOTER_SIZE
    magic = struct.unpack_from("<Q", data, len(data) - 8)[0]
    if magic != MAGIC:
        raise BadModelError("not a TensorFlow checkpoint index: the table footer's magic number is "
                            f"{magic:#018x}, not {MAGIC:#018x}", path)
    footer_end = len(data) - 8
    _meta_off, _meta_size, pos = r.handle(data, footer_at, footer_end, "metaindex")
    idx_off, idx_size, _ = r.handle(data, pos, footer_end, "index")
    index = r.block(idx_off, idx_size, "index")
    out: list[tuple[bytes, bytes]] = []
    last_key: Optional[bytes] = None
    next_free = 0  # data blocks come in file order and do not overlap
    blocks = 0
    for _sep, handle in r.entries(index, "index"):
        off, size, _ = r.handle(handle, 0, len(handle), "data")
        if off < next_free:
            raise r.fail(f"data block at offset {off} overlaps the previous block")
        if off + size > idx_off and off < idx_off + idx_size + TRAILER_SIZE:
            raise r.fail(f"data block at offset {off} overlaps the index block")
        next_free = off + size + TRAILER_SIZE
        for key, value in r.entries(r.block(off, size, "data"), "data"):
            if last_key is not None and key <= last_key:
                raise r.fail(f"keys out of order ({key[:60]!r} after {last_key[:60]!r})")
            last_key = key
            out.append((key, value))
        blocks += 1
    if stats is not None:
        stats.update(data_blocks=blocks, checksums_verified=not r.crc_skipped)
    return out


def read_index_bytes(data: bytes, path: str) -> CheckpointIndex:
    pairs = parse_table(data, path)
    if not pairs or pairs[0][0] != b"":
        raise BadModelError("damaged checkpoint index: no bundle header (the entry with the empty key)", path)
    header = tfproto.BundleHeaderProto()
    try:
        header.ParseFromString(pairs[0][1])
    except DecodeError:
        raise BadModelError("damaged checkpoint index: the bundle header does not parse", path) from None
    if header.num_shards < 0 or header.num_shards > 1_000_000:
        raise BadModelError(f"damaged checkpoint index: {header.num_shards} data shards", path)
    ck = CheckpointIndex(path=path, num_shards=header.num_shards,
                         endianness="big" if header.endianness == 1 else "little",
                         version=header.version.producer if header.HasField("version") else None)
    for key, value in pairs[1:]:
        name = key.decode("utf-8", errors="replace")
        e = tfproto.BundleEntryProto()
        try:
            e.ParseFromString(value)
        except DecodeError:
            raise BadModelError(f"damaged checkpoint index: the entry of {name[:100]!r} does not parse",
                                path) from None
        if e.shard_id < 0 or (header.num_shards and e.shard_id >= header.num_shards):
            raise BadModelError(f"damaged checkpoint index: {name[:100]!r} lives in shard {e.shard_id} of "
                                f"{header.num_shards}", path)
        if e.offset < 0 or e.size < 0:
            raise BadModelError(f"damaged checkpoint index: {name[:100]!r} has a negative offset or size", path)
        entry = BundleEntry(name=name, dtype=dtype_name(e.dtype), shape=shape_of(e.shape), shard_id=e.shard_id,
                            offset=e.offset, size=e.size, sliced=len(e.slices) > 0)
        ck.entries[name] = entry
        if name != OBJECT_GRAPH_KEY:
            ck.variables[name] = Variable(name=name, dtype=entry.dtype, shape=entry.shape, nbytes=e.size)
    return ck


def read_index(path: str) -> CheckpointIndex:
    """Read ``prefix.index`` (the path may also be given as the prefix)."""
    if not path.endswith(".index") and not os.path.exists(path) and os.path.exists(path + ".index"):
        path = path + ".index"
    try:
        size = os.path.getsize(path)
        if size > MAX_INDEX_BYTES:
            raise LimitError(f"checkpoint index is {size} bytes; graphreport reads indexes up to "
                             f"{MAX_INDEX_BYTES} bytes", path)
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise BadModelError("is a directory, not a checkpoint index", path) from None
    except OSError as e:
        raise BadModelError(f"cannot read the checkpoint index ({e.strerror or e})", path) from None
    return read_index_bytes(data, path)


def match(path: str) -> bool:
    """A ``.index`` file whose last 8 bytes are the table magic number."""
    try:
        if not path.endswith(".index") or not os.path.isfile(path) or os.path.getsize(path) < FOOTER_SIZE:
            return False
        with open(path, "rb") as f:
            f.seek(-8, os.SEEK_END)
            return struct.unpack("<Q", f.read(8))[0] == MAGIC
    except OSError:
        return False
