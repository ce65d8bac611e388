"""Keras reader, part 4: the containers of a Keras 3 model: zip archives read member by member (bounded:
declared sizes against the archive, expansion ratio), files in a folder, and their JSON. See keras.py."""
from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import zipfile
from contextlib import contextmanager

from ..errors import BadModelError, LimitError
from ..watchdog import note_bytes
from .files import ZIP_MAGIC
from .keras_config import MAX_CONFIG_BYTES, MAX_WEIGHTS_BYTES, MAX_ZIP_MEMBERS, MAX_ZIP_RATIO

# ----------------------------------------------------------------------------------------------------------
# Containers: zip archives (bounded), files in a folder
# ----------------------------------------------------------------------------------------------------------

def one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def parse_json(data: bytes, what: str, path: str):
    if len(data) > MAX_CONFIG_BYTES:
        raise LimitError(f"{what} is {len(data)} bytes; graphreport reads configs up to {MAX_CONFIG_BYTES} bytes",
                         path)
    try:
        obj = json.loads(data)
        # a "\udcff" escape decodes to a lone surrogate, which no later step can encode (protobuf raises
        # SystemError on it): refuse it here, whatever field it hides in
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
        return obj
    except RecursionError:
        raise BadModelError(f"{what} is nested too deeply", path) from None
    except UnicodeEncodeError:
        raise BadModelError(f"{what} holds a lone UTF-16 surrogate (\\udXXX escape): not valid text", path) \
            from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadModelError(f"{what} is not valid JSON ({one_line(e)})", path) from None


class _RangeFile(io.RawIOBase):
    """A read-only window [offset, offset + size) of a file: a stored zip member, opened without copying."""

    def __init__(self, path: str, offset: int, size: int):
        super().__init__()
        self._f = open(path, "rb")
        self._off, self._size, self._pos = offset, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, pos, whence=0):
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buf):
        n = max(0, min(len(buf), self._size - self._pos))
        if n == 0:
            return 0
        self._f.seek(self._off + self._pos)
        data = self._f.read(n)
        buf[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self):
        try:
            self._f.close()
        finally:
            super().close()


class Archive:
    """A zip archive whose members are checked before they are read."""

    def __init__(self, path: str):
        self.path = path
        try:
            self.size = os.path.getsize(path)
            self.zf = zipfile.ZipFile(path)
            self.infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError,
                struct.error) as e:
            raise BadModelError(f"not a readable zip archive ({one_line(e)})", path) from None
        if len(self.infos) > MAX_ZIP_MEMBERS:
            raise LimitError(f"the archive lists {len(self.infos)} members; graphreport reads at most "
                             f"{MAX_ZIP_MEMBERS}", path)
        self.names = {i.filename: i for i in self.infos}

    def close(self):
        self.zf.close()

    def check(self, info: zipfile.ZipInfo, limit: int) -> None:
        name = info.filename
        if info.compress_size > self.size or info.header_offset + info.compress_size > self.size:
            raise BadModelError(f"zip member {name} claims {info.compress_size} stored bytes, more than the "
                                f"{self.size}-byte archive holds", self.path)
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise BadModelError(f"zip member {name} is stored uncompressed but declares {info.file_size} bytes "
                                f"for {info.compress_size} stored", self.path)
        if info.file_size > max(info.compress_size, 1) * MAX_ZIP_RATIO:
            raise LimitError(f"zip member {name} would expand {info.file_size // max(info.compress_size, 1)}x "
                             f"(to {info.file_size} bytes): refused as a zip bomb", self.path)
        if info.file_size > limit:
            raise LimitError(f"zip member {name} is {info.file_size} bytes; graphreport reads at most {limit}",
                             self.path)
        if info.flag_bits & 0x1:
            raise BadModelError(f"zip member {name} is encrypted", self.path)

    def read(self, name: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
        info = self.names[name]
        self.check(info, limit)
        try:
            with self.zf.open(info) as f:
                data = f.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as e:
            raise BadModelError(f"cannot read zip member {name} ({one_line(e)})", self.path) from None
        except Exception as e:  # zlib.error and friends
            raise BadModelError(f"cannot read zip member {name} ({one_line(e)})", self.path) from None
        if len(data) > limit:
            raise LimitError(f"zip member {name} holds more than {limit} bytes", self.path)
        note_bytes(len(data) - info.compress_size)  # the CLI guard: more reading time for the bytes it expanded to
        return data

    @contextmanager
    def member_file(self, name: str):
        """A seekable binary file object for a member: a window of the archive when stored, else a bounded
        temporary copy."""
        info = self.names[name]
        self.check(info, MAX_WEIGHTS_BYTES)
        if info.compress_type == zipfile.ZIP_STORED:
            with open(self.path, "rb") as f:
                f.seek(info.header_offset)
                hdr = f.read(30)
            if len(hdr) < 30 or hdr[:4] != ZIP_MAGIC:
                raise BadModelError(f"zip member {name}: no local header where the directory says", self.path)
            n, m = struct.unpack("<HH", hdr[26:30])
            offset = info.header_offset + 30 + n + m
            if offset + info.compress_size > self.size:
                raise BadModelError(f"zip member {name} runs past the end of the archive", self.path)
            rf = _RangeFile(self.path, offset, info.compress_size)
            try:
                yield rf
            finally:
                rf.close()
            return
        tmp = tempfile.TemporaryFile(prefix="graphreport-")
        try:
            written = 0
            try:
                with self.zf.open(info) as src:
                    while True:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        written += len(chunk)
                        if written > info.file_size:
                            raise LimitError(f"zip member {name} holds more than it declares", self.path)
                        tmp.write(chunk)
            except LimitError:
                raise
            except Exception as e:
                raise BadModelError(f"cannot read zip member {name} ({one_line(e)})", self.path) from None
            note_bytes(written - info.compress_size)
            tmp.seek(0)
            yield tmp
        finally:
            tmp.close()
