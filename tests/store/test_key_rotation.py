"""Key rotation of the encrypted file store: every file readable under the old or the new key
at every moment, a rotation stopped half-way resumed by running it again, the command line."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hallmark.cli.app import app
from hallmark.core.errors import FileCorruptError
from hallmark.store.files import EncryptedFileStore

OLD = bytes(range(32))
NEW = bytes(range(100, 132))


def _files(count: int) -> list[bytes]:
    return [secrets.token_bytes(200 + n) for n in range(count)]


def _readable_by_one_key(root: Path, addresses: list[str], contents: list[bytes]) -> list[str]:
    """Which key opens each file: every file is whole under exactly one of them."""
    old, new = EncryptedFileStore(root, OLD), EncryptedFileStore(root, NEW)
    keys = []
    for address, content in zip(addresses, contents, strict=True):
        opened = []
        for name, store in (("old", old), ("new", new)):
            try:
                assert store.get(address) == content
                opened.append(name)
            except FileCorruptError:
                pass
        assert len(opened) == 1, (address, opened)
        keys.append(opened[0])
    return keys


def test_rotation_reseals_every_file_under_the_new_key(tmp_path: Path) -> None:
    contents = _files(6)
    addresses = [EncryptedFileStore(tmp_path, OLD).put(c) for c in contents]
    rotating = EncryptedFileStore(tmp_path, NEW, (OLD,))
    assert rotating.remaining() == 6
    # During the rotation readers hold both keys: every file reads, before and after.
    assert [rotating.get(a) for a in addresses] == contents
    report = rotating.rotate()
    assert (report.resealed, report.current, report.unreadable) == (6, 0, [])
    assert rotating.remaining() == 0
    new_only = EncryptedFileStore(tmp_path, NEW)
    assert [new_only.get(a) for a in addresses] == contents
    with pytest.raises(FileCorruptError):
        EncryptedFileStore(tmp_path, OLD).get(addresses[0])
    # Again: nothing left to do.
    assert rotating.rotate().resealed == 0
    # A file stored during the rotation is sealed under the new key only.
    late = rotating.put(b"stored while rotating")
    assert new_only.get(late) == b"stored while rotating"


def test_a_rotation_killed_half_way_leaves_every_file_whole_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents = _files(8)
    addresses = [EncryptedFileStore(tmp_path, OLD).put(c) for c in contents]
    rotating = EncryptedFileStore(tmp_path, NEW, (OLD,))
    real_replace = os.replace
    replaced = 0

    def killed_after_three(src: str, dst: str) -> None:
        nonlocal replaced
        if replaced == 3:
            # Killed after the temporary file is written, before the rename.
            raise KeyboardInterrupt("killed")
        real_replace(src, dst)
        replaced += 1
        # At every moment: each file is whole under one key.
        _readable_by_one_key(tmp_path, addresses, contents)

    monkeypatch.setattr(os, "replace", killed_after_three)
    with pytest.raises(KeyboardInterrupt):
        rotating.rotate()
    monkeypatch.setattr(os, "replace", real_replace)

    keys = _readable_by_one_key(tmp_path, addresses, contents)
    assert sorted(keys) == ["new"] * 3 + ["old"] * 5
    assert rotating.remaining() == 5
    assert not [p for p in tmp_path.rglob(".tmp-*")]  # the half-written file was removed
    assert [rotating.get(a) for a in addresses] == contents

    report = rotating.rotate()  # resumed: only the rest is re-sealed
    assert (report.resealed, report.current) == (5, 3)
    assert _readable_by_one_key(tmp_path, addresses, contents) == ["new"] * 8


def test_a_file_no_key_opens_is_reported_and_left_alone(tmp_path: Path) -> None:
    good = EncryptedFileStore(tmp_path, OLD).put(b"good")
    stranger = EncryptedFileStore(tmp_path, bytes(32)).put(b"sealed under another key")
    report = EncryptedFileStore(tmp_path, NEW, (OLD,)).rotate()
    assert report.resealed == 1 and report.unreadable == [stranger]
    assert EncryptedFileStore(tmp_path, NEW).get(good) == b"good"


def test_rotate_key_command(tmp_path: Path) -> None:
    files = tmp_path / "files"
    contents = _files(3)
    addresses = [EncryptedFileStore(files, OLD).put(c) for c in contents]
    env = {
        "HALLMARK_ENVIRONMENT": "test",
        "HALLMARK_DATA_DIR": str(tmp_path),
        "HALLMARK_FILES_DIR": str(files),
        "HALLMARK_FILE_KEY": base64.b64encode(NEW).decode(),
    }
    runner = CliRunner()
    no_previous = runner.invoke(app, ["designs", "rotate-key"], env=env)
    assert no_previous.exit_code == 1
    assert "HALLMARK_FILE_KEYS_PREVIOUS" in no_previous.output
    env["HALLMARK_FILE_KEYS_PREVIOUS"] = base64.b64encode(OLD).decode()
    check = runner.invoke(app, ["designs", "rotate-key", "--check"], env=env)
    assert check.exit_code == 1 and "3 file(s) not under the current key" in check.output
    done = runner.invoke(app, ["designs", "rotate-key"], env=env)
    assert done.exit_code == 0, done.output
    assert "3 file(s) re-sealed, 0 already under the current key" in done.output
    assert runner.invoke(app, ["designs", "rotate-key", "--check"], env=env).exit_code == 0
    assert [EncryptedFileStore(files, NEW).get(a) for a in addresses] == contents
    env["HALLMARK_FILE_KEYS_PREVIOUS"] = "not base64!"
    bad = runner.invoke(app, ["designs", "rotate-key"], env=env)
    assert bad.exit_code == 1 and "HALLMARK_FILE_KEY" in bad.output
