"""Put rendered bytes in place without ever leaving a broken live file.

install(): compare with the live file (identical -> nothing), write a candidate in the same directory,
fsync, run `check_command` on it (`{path}` = the candidate), keep a `.bak` if asked, rename over the live
file (in-place write when rename fails with EBUSY/EXDEV, as on a single-file bind mount). The caller then
runs the command once per cycle and calls `restore()` if it failed, so the live file always holds content
that passed its check and its command.

Modes: `perms` when set; else the live file's mode; else 0644 narrowed by the process umask (a umask of 077
gives 0600). The `.bak` gets the mode of the file it copies, never wider. The destination is never followed
through a symlink (O_NOFOLLOW, lstat): a symlink planted there is refused, so a writer of the directory cannot
redirect the render onto another file.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shlex
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from consul_templates.commands import run_command
from consul_templates.config import TemplateSpec

log = logging.getLogger("consul_templates.apply")

# Outcomes of install()
UNCHANGED, INSTALLED, CHECK_FAILED, WRITE_FAILED = "unchanged", "installed", "check_failed", "write_failed"


@dataclass(frozen=True)
class Installed:
    """What install() did; `previous` is the live content it replaced (None: there was no file)."""

    status: str
    spec: TemplateSpec
    previous: bytes | None = None
    detail: str = ""


class SymlinkDestination(OSError):
    """The destination is a symlink: refused rather than followed."""


class NotRegularDestination(OSError):
    """The destination is a fifo, socket or device: refused rather than opened or replaced."""


# What install() last put at each destination, by the file's identity right after (device, inode, size, mtime,
# ctime): while the live file still has it, its bytes are these, and a 2 MB file is not read again to be
# compared (0.4-0.5 ms of every change at 5,000 services). Any other writer, by rename or in place, changes it.
_written: dict[Path, tuple[tuple[int, int, int, int, int], bytes]] = {}


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _remember(dest: Path, content: bytes) -> None:
    try:
        st = os.lstat(dest)
    except OSError:
        _written.pop(dest, None)
        return
    if stat.S_ISREG(st.st_mode):
        _written[dest] = (_identity(st), content)


def live_content(dest: Path) -> bytes | None:
    """The live file's bytes (None: no file), from what install() wrote there when the file is still that;
    a symlink at `dest` is refused, not followed."""
    known = _written.get(dest)
    if known is not None:
        try:
            st = os.lstat(dest)
        except FileNotFoundError:
            return None
        if stat.S_ISREG(st.st_mode) and _identity(st) == known[0]:
            return known[1]
    return read_live(dest)


def read_live(path: Path) -> bytes | None:
    """The live file's bytes (None: no file); a symlink at `path` is refused, not followed, and so is anything
    but a regular file (opening a fifo planted there would wait for a writer: O_NONBLOCK, then refused)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SymlinkDestination(errno.ELOOP, "is a symlink; refusing to follow it", str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotRegularDestination(errno.EINVAL, "is not a regular file; refusing to replace it", str(path))
    with os.fdopen(fd, "rb") as f:
        return f.read()


def current_umask() -> int:
    """The process umask, read without changing it (Linux /proc); 022 when it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_candidate(dest: Path, content: bytes, perms: int | None, *, like: Path | None = None,
                     create_dirs: bool = True) -> Path:
    """Write `content` to a new file next to `dest` (same filesystem, so rename is atomic) and fsync it.
    Mode and owner: `perms`, else those of `like` (default: `dest`) when it is a regular file, else 0644 & ~umask."""
    try:  # the directory is made only when missing: checking it first cost a syscall on every change
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".candidate", dir=dest.parent)
    except FileNotFoundError:
        if not create_dirs:
            raise
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".candidate", dir=dest.parent)
    try:
        mode = perms
        uid = gid = -1
        try:
            st = os.lstat(like or dest)
            if stat.S_ISREG(st.st_mode):
                mode = st.st_mode & 0o7777 if mode is None else mode
                uid, gid = st.st_uid, st.st_gid
        except FileNotFoundError:
            pass
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, (0o644 & ~current_umask()) if mode is None else mode)
        if uid >= 0 and os.geteuid() == 0:
            with contextlib.suppress(OSError):
                os.fchown(fd, uid, gid)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    os.close(fd)
    return Path(name)


def _write_in_place(dest: Path, content: bytes) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_TRUNC | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


# A replaced file at least this large is released by a worker thread, not by the rename (see _hold_old).
RELEASE_APART = 256 * 1024


def _hold_old(dest: Path) -> int | None:
    """An open descriptor on the large file `dest` is about to replace, else None. A rename over a file nobody
    has open frees its pages inside the rename: 0.6-0.8 ms for 2 MB of nginx config, on the way from a change
    to the new file. Held open, the old file outlives the rename and is freed when the descriptor is closed,
    in a worker thread after the new file is in place."""
    try:  # only a regular file is opened: opening a device or a fifo planted there could have effects
        st = os.lstat(dest)
        if not stat.S_ISREG(st.st_mode) or st.st_size < RELEASE_APART:
            return None
        fd = os.open(dest, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    return None


def _release(fd: int) -> None:
    """Close a descriptor from _hold_old off the event loop (a thread), or here when there is no loop."""
    try:
        asyncio.get_running_loop().run_in_executor(None, os.close, fd)
    except RuntimeError:
        os.close(fd)


def swap(candidate: Path, dest: Path, content: bytes) -> None:
    """Atomic rename; on EBUSY/EXDEV (single-file bind mounts) overwrite the live file in place instead.

    The candidate's bytes were fsynced before the rename, so after a crash the path holds either the old
    or the new complete file, never a torn one. The directory is not fsynced (as consul-template): losing
    the rename in a crash leaves the previous good file, and the daemon renders again when it starts."""
    held = _hold_old(dest) if len(content) >= RELEASE_APART else None
    try:
        os.replace(candidate, dest)
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.EXDEV):
            raise
        log.info("rename onto %s failed (%s): writing in place", dest, os.strerror(exc.errno))
        try:
            _write_in_place(dest, content)
        finally:
            with contextlib.suppress(OSError):
                candidate.unlink()
    finally:
        if held is not None:
            _release(held)


async def install(spec: TemplateSpec, content: bytes, env: Mapping[str, str] | None = None) -> Installed:
    """Check and swap one rendered file in; never touches the live file unless the check passed.
    `env` is the check command's environment (None: ours)."""
    dest = spec.destination
    try:
        previous = live_content(dest)
    except OSError as exc:
        return Installed(WRITE_FAILED, spec, None, f"cannot read {dest}: {exc}")
    if previous == content:
        return Installed(UNCHANGED, spec, previous)
    try:
        candidate = _write_candidate(dest, content, spec.perms, create_dirs=spec.create_dest_dirs)
    except OSError as exc:
        return Installed(WRITE_FAILED, spec, previous, f"cannot write a candidate next to {dest}: {exc}")
    try:
        if spec.check_command:
            command = spec.check_command.replace("{path}", shlex.quote(str(candidate)))
            result = await run_command(command, spec.command_timeout, env)
            if not result.ok:
                return Installed(CHECK_FAILED, spec, previous, f"check_command {command!r} {result.describe()}")
        if spec.backup and previous is not None:
            backup = dest.with_name(dest.name + ".bak")
            bak = _write_candidate(backup, previous, None, like=dest)
            os.replace(bak, backup)
        swap(candidate, dest, content)
    except OSError as exc:
        return Installed(WRITE_FAILED, spec, previous, f"cannot replace {dest}: {exc}")
    finally:
        with contextlib.suppress(OSError):
            candidate.unlink()
    _remember(dest, content)
    return Installed(INSTALLED, spec, previous)


def restore(item: Installed) -> None:
    """Put back what install() replaced (after the command failed): the live file stays the last good one."""
    dest = item.spec.destination
    try:
        if item.previous is None:
            with contextlib.suppress(FileNotFoundError):
                dest.unlink()
            _fsync_dir(dest.parent)
            return
        candidate = _write_candidate(dest, item.previous, item.spec.perms)
        try:
            swap(candidate, dest, item.previous)
        finally:
            with contextlib.suppress(OSError):
                candidate.unlink()
        _remember(dest, item.previous)
    except OSError as exc:
        log.error("cannot restore %s after a failed command: %s", dest, exc)
