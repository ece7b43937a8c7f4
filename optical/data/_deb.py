"""Reading Debian packages in pure Python: a .deb is an ``ar`` archive holding ``control.tar.*`` and ``data.tar.*``."""

from __future__ import annotations

import io
import lzma
import os
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from optical.errors import InputError

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER_SIZE = 60
_TAR_MODES = {".xz": "r|xz", ".gz": "r|gz", ".bz2": "r|bz2", "": "r|"}


@dataclass(frozen=True)
class ArMember:
    """One member of an ``ar`` archive: its name and where its bytes lie in the file."""

    name: str
    offset: int
    size: int


def ar_members(path: Path) -> list[ArMember]:
    """List the members of an ``ar`` archive (common/GNU format); ``InputError`` if it is not one."""
    members = []
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        if f.read(len(_AR_MAGIC)) != _AR_MAGIC:
            raise InputError("not a Debian package (no 'ar' archive header)", path)
        while header := f.read(_AR_HEADER_SIZE):
            if len(header) < _AR_HEADER_SIZE or header[58:60] != b"`\n":
                raise InputError(f"truncated or corrupt 'ar' archive at byte {f.tell() - len(header)}", path)
            try:
                size = int(header[48:58].decode("ascii"))
            except ValueError:
                raise InputError(f"corrupt 'ar' member header at byte {f.tell() - len(header)}", path) from None
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            if f.tell() + size > file_size:
                raise InputError(f"truncated: member {name} needs {size} bytes, the file ends before", path)
            members.append(ArMember(name, f.tell(), size))
            f.seek(size + size % 2, io.SEEK_CUR)
    return members


class _MemberReader(io.RawIOBase):
    """A read-only stream over one ``ar`` member, reporting each chunk read to ``on_read(n_bytes)``."""

    def __init__(self, f: io.BufferedReader, member: ArMember, on_read: Callable[[int], object]):
        f.seek(member.offset)
        self._f, self._left, self._on_read = f, member.size, on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._f.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        self._on_read(len(data))
        return len(data)


def _find(path: Path, members: list[ArMember], stem: str) -> tuple[ArMember, str]:
    """The member ``<stem>.tar[.xz|.gz|.bz2]`` and the ``tarfile`` stream mode that reads it."""
    for member in members:
        if member.name.startswith(stem + ".tar"):
            suffix = member.name[len(stem) + 4:]
            if suffix not in _TAR_MODES:
                raise InputError(f"{member.name} uses a compression this reader does not support; "
                                 "unpack it with `dpkg-deb -x` or use a .deb with data.tar.xz", path)
            return member, _TAR_MODES[suffix]
    raise InputError(f"not a Debian package (no {stem}.tar.* member)", path)


def iter_files(path: Path, stem: str, wanted: Callable[[str], bool],
               on_read: Callable[[int], object] = lambda n: None) -> Iterator[tuple[str, bytes]]:
    """Stream the regular files of ``<stem>.tar.*`` (``"control"`` or ``"data"``) inside the .deb at ``path``.

    Yields ``(name, content)`` for each file whose name (without a leading ``./``) passes ``wanted``; other
    members are skipped without being read into memory. A corrupt archive raises ``InputError`` naming the .deb.
    """
    path = Path(path)
    member, mode = _find(path, ar_members(path), stem)
    with open(path, "rb") as f:
        try:
            with tarfile.open(fileobj=_MemberReader(f, member, on_read), mode=mode) as tar:
                for info in tar:
                    name = info.name.removeprefix("./")
                    if info.isfile() and wanted(name):
                        yield name, tar.extractfile(info).read()
        except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError) as err:
            raise InputError(f"corrupt {member.name} ({err})", path) from None


def read_control(path: Path) -> dict[str, str]:
    """The fields of the package's ``control`` file (``Package``, ``Version``, ...)."""
    for _, content in iter_files(path, "control", lambda name: name == "control"):
        fields = {}
        for line in content.decode("utf-8", "replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and not line[:1].isspace():
                fields[key.strip()] = value.strip()
        return fields
    raise InputError("not a Debian package (control.tar has no 'control' file)", path)
