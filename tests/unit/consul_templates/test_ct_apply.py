"""Installing files: identical -> untouched, check before swap, perms, backup, in-place fallback, restore."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from consul_templates import apply
from consul_templates.apply import CHECK_FAILED, INSTALLED, UNCHANGED, install, restore
from consul_templates.commands import run_command
from consul_templates.config import TemplateSpec


def spec(tmp: Path, **kw: object) -> TemplateSpec:
    return TemplateSpec(destination=tmp / "live.conf", **kw)  # type: ignore[arg-type]


async def test_new_file_then_identical_then_changed(tmp_path: Path) -> None:
    s = spec(tmp_path, perms=0o640)
    first = await install(s, b"one\n")
    assert first.status == INSTALLED and first.previous is None
    assert s.destination.read_bytes() == b"one\n" and s.destination.stat().st_mode & 0o777 == 0o640
    mtime = s.destination.stat().st_mtime_ns
    assert (await install(s, b"one\n")).status == UNCHANGED
    assert s.destination.stat().st_mtime_ns == mtime
    second = await install(s, b"two\n")
    assert second.status == INSTALLED and second.previous == b"one\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.conf"]  # no candidate left over


async def test_existing_mode_is_kept_when_perms_not_set(tmp_path: Path) -> None:
    s = spec(tmp_path)
    s.destination.write_text("old")
    os.chmod(s.destination, 0o600)
    await install(s, b"new")
    assert s.destination.stat().st_mode & 0o777 == 0o600


async def test_check_runs_on_the_candidate_and_failure_keeps_live(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    s = spec(tmp_path, check_command=f"cp {{path}} {seen} && grep -q ok {{path}}")
    s.destination.write_text("live\n")
    bad = await install(s, b"not fine\n")
    assert bad.status == CHECK_FAILED and "exited 1" in bad.detail
    assert s.destination.read_text() == "live\n" and seen.read_text() == "not fine\n"
    assert (await install(s, b"ok\n")).status == INSTALLED and s.destination.read_text() == "ok\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.conf", "seen"]


async def test_backup_keeps_the_replaced_file(tmp_path: Path) -> None:
    s = spec(tmp_path, backup=True)
    await install(s, b"v1")
    assert not (tmp_path / "live.conf.bak").exists()
    await install(s, b"v2")
    assert (tmp_path / "live.conf.bak").read_bytes() == b"v1" and s.destination.read_bytes() == b"v2"


@pytest.mark.parametrize("code", [errno.EBUSY, errno.EXDEV])
async def test_rename_refused_falls_back_to_in_place_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           code: int) -> None:
    s = spec(tmp_path)
    s.destination.write_text("old")
    inode = s.destination.stat().st_ino

    def refuse(src: object, dst: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(apply.os, "replace", refuse)
    assert (await install(s, b"new")).status == INSTALLED
    assert s.destination.read_bytes() == b"new" and s.destination.stat().st_ino == inode  # same file: bind mount ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.conf"]


async def test_restore_puts_back_previous_or_removes_new(tmp_path: Path) -> None:
    s = spec(tmp_path)
    first = await install(s, b"v1")
    second = await install(s, b"v2")
    restore(second)
    assert s.destination.read_bytes() == b"v1"
    restore(first)
    assert not s.destination.exists()


async def test_run_command_reports_exit_output_and_timeout() -> None:
    ok = await run_command("echo hi", 5)
    assert ok.ok and ok.output == "hi\n"
    bad = await run_command("echo broken >&2; exit 3", 5)
    assert not bad.ok and bad.returncode == 3 and "exited 3" in bad.describe() and "broken" in bad.describe()
    slow = await run_command("sleep 5", 0.2)
    assert not slow.ok and slow.returncode is None and "timed out" in slow.describe() and slow.seconds < 2


def _gone(pid: int, within: float = 5.0) -> bool:
    """True once the process is dead (a zombie waiting for init counts); SIGKILL is delivered asynchronously,
    so allow it a moment on a loaded machine."""
    deadline = time.monotonic() + within
    while True:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return True
        if "State:\tZ" in status:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


async def test_timeout_and_cancel_kill_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    slow = await run_command(f"sleep 30 & echo $! > {pidfile}; wait", 0.3)
    assert slow.returncode is None
    grandchild = int(pidfile.read_text())
    assert _gone(grandchild)

    pidfile.unlink()
    task = asyncio.ensure_future(run_command(f"sleep 30 & echo $! > {pidfile}; wait", 30))
    while not pidfile.exists() or not pidfile.read_text().strip():
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _gone(int(pidfile.read_text()))


async def test_a_background_child_holding_stdout_does_not_hold_the_command() -> None:
    result = await asyncio.wait_for(run_command("sleep 2 & echo started", 5), 1.5)
    assert result.ok and result.output == "started\n"


async def test_a_symlink_planted_at_the_destination_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "passwd"
    target.parent.mkdir()
    target.write_text("root:x:0:0\n")
    s = spec(tmp_path)
    s.destination.symlink_to(target)
    item = await install(s, b"evil\n")
    assert item.status == apply.WRITE_FAILED and "symlink" in item.detail
    assert target.read_text() == "root:x:0:0\n" and s.destination.is_symlink()
    apply._write_in_place(tmp_path / "plain", b"ok")  # the in-place fallback refuses symlinks too
    with pytest.raises(OSError):
        apply._write_in_place(s.destination, b"evil")
    assert target.read_text() == "root:x:0:0\n"


async def test_new_files_honour_the_umask_and_the_backup_never_widens(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        s = spec(tmp_path, backup=True)
        await install(s, b"one\n")
        assert s.destination.stat().st_mode & 0o777 == 0o600  # 0644 & ~077
        os.umask(0o022)
        await install(s, b"two\n")  # the live file's mode is kept, and the .bak copies it
        bak = s.destination.with_name("live.conf.bak")
        assert bak.read_bytes() == b"one\n" and bak.stat().st_mode & 0o777 == 0o600
        assert s.destination.stat().st_mode & 0o777 == 0o600
        other = spec(tmp_path / "sub")
        await install(other, b"x")
        assert other.destination.stat().st_mode & 0o777 == 0o644
        explicit = spec(tmp_path / "p", perms=0o640, backup=True)
        await install(explicit, b"a")
        await install(explicit, b"b")
        assert explicit.destination.with_name("live.conf.bak").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


async def test_create_dest_dirs_false_refuses_a_missing_directory(tmp_path: Path) -> None:
    s = spec(tmp_path / "missing", create_dest_dirs=False)
    item = await install(s, b"x")
    assert item.status == apply.WRITE_FAILED and not (tmp_path / "missing").exists()


async def test_a_live_file_changed_by_someone_else_is_seen_though_ours_is_not_read_again(tmp_path: Path,
                                                                                         monkeypatch) -> None:
    s = spec(tmp_path)
    assert (await install(s, b"upstream a;\n")).status == INSTALLED
    reads: list[Path] = []
    real = apply.read_live
    monkeypatch.setattr(apply, "read_live", lambda p: reads.append(p) or real(p))
    assert (await install(s, b"upstream a;\n")).status == UNCHANGED and reads == []  # ours: known, not read
    s.destination.write_bytes(b"upstream b;\n")  # the same size, in place
    item = await install(s, b"upstream a;\n")
    assert item.status == INSTALLED and item.previous == b"upstream b;\n" and reads == [s.destination]
    other = tmp_path / "other"
    other.write_bytes(b"upstream c;\n")
    os.replace(other, s.destination)  # by rename
    item = await install(s, b"upstream a;\n")
    assert item.status == INSTALLED and item.previous == b"upstream c;\n"
    s.destination.unlink()
    assert (await install(s, b"upstream a;\n")).previous is None
    restore(await install(s, b"upstream d;\n"))  # a failed command puts ours back: known again
    reads.clear()
    assert (await install(s, b"upstream a;\n")).status == UNCHANGED and reads == []


async def test_the_destination_directory_is_made_when_missing_and_only_if_allowed(tmp_path: Path) -> None:
    deep = TemplateSpec(destination=tmp_path / "a" / "b" / "live.conf")
    assert (await install(deep, b"x\n")).status == INSTALLED and deep.destination.read_bytes() == b"x\n"
    refused = TemplateSpec(destination=tmp_path / "c" / "live.conf", create_dest_dirs=False)
    assert (await install(refused, b"x\n")).status == apply.WRITE_FAILED and not refused.destination.parent.exists()


def _open_on(path: Path) -> list[str]:
    """Our descriptors on `path`, live or replaced ('... (deleted)')."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(path)):
                found.append(target)
    return found


async def test_a_large_replaced_file_outlives_the_rename_and_is_then_released(tmp_path: Path, monkeypatch) -> None:
    s = spec(tmp_path)
    big = apply.RELEASE_APART
    assert (await install(s, b"a" * big)).status == INSTALLED
    during: list[list[str]] = []
    real = os.replace
    monkeypatch.setattr(apply.os, "replace", lambda a, b: (real(a, b), during.append(_open_on(s.destination)))[0])
    assert (await install(s, b"b" * big)).status == INSTALLED
    assert during == [[f"{s.destination} (deleted)"]]  # held through the rename: not freed inside it
    for _ in range(200):  # then closed by a worker thread
        if not _open_on(s.destination):
            break
        await asyncio.sleep(0.005)
    assert _open_on(s.destination) == []
    during.clear()
    assert (await install(s, b"small\n")).status == INSTALLED and during == [[]]  # small: nothing held


async def test_a_fifo_planted_at_the_destination_is_refused_not_waited_on(tmp_path: Path) -> None:
    s = spec(tmp_path)
    os.mkfifo(s.destination)
    rescued = threading.Event()

    def rescue() -> None:  # a reader blocked on the fifo would wait forever: open its other end after 5 s
        if not done.wait(5):
            rescued.set()
            with contextlib.suppress(OSError), open(s.destination, "wb"):
                pass

    done = threading.Event()
    threading.Thread(target=rescue, daemon=True).start()
    try:
        item = await install(s, b"c" * apply.RELEASE_APART)
    finally:
        done.set()
    assert not rescued.is_set()
    assert item.status == apply.WRITE_FAILED and "not a regular file" in item.detail
    assert stat.S_ISFIFO(os.lstat(s.destination).st_mode)
    assert apply._hold_old(s.destination) is None
