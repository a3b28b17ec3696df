"""The operator file: hashes only, mode 0600, written durably, and a damaged or hostile file is one
clear error naming it."""

from __future__ import annotations

import hashlib
import os
import stat
import tomllib

import pytest

from assistant.errors import AssistantError, OperatorError
from assistant.operator.credentials import (
    MAX_FILE_BYTES,
    MIN_PASSWORD_CHARS,
    OperatorCredentials,
    create_token,
    set_password,
    verify_password,
    verify_token,
)

PASSWORD = "correct horse battery staple"


def leftovers(folder):
    """Files a write left beside the operator file (temporary copies), apart from its lock."""
    return sorted(p.name for p in folder.iterdir() if p.name not in ("operator.toml", ".operator.toml.lock"))


def test_an_absent_file_means_sign_in_is_off(tmp_path):
    assert OperatorCredentials.load(tmp_path / "operator.toml") is None


@pytest.fixture
def open_umask():
    """A umask that takes nothing away: the file's mode must come from the code, not the umask."""
    before = os.umask(0)
    yield
    os.umask(before)


def test_set_password_writes_an_argon2id_hash_with_mode_0600_and_nothing_else(tmp_path, open_umask):
    path = tmp_path / "operator.toml"
    set_password(path, PASSWORD)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert PASSWORD not in text
    data = tomllib.loads(text)
    assert data["password_hash"].startswith("$argon2id$")
    assert leftovers(tmp_path) == []
    credentials = OperatorCredentials.load(path)
    assert credentials is not None and credentials.tokens == ()
    assert verify_password(credentials, PASSWORD)
    assert not verify_password(credentials, PASSWORD + "!")
    assert not verify_password(credentials, "")


def test_the_file_stays_0600_when_rewritten_and_the_temporary_file_is_never_readable_by_others(tmp_path, monkeypatch,
                                                                                               open_umask):
    import assistant.files as files

    path = tmp_path / "operator.toml"
    seen = []
    real_replace = files.os.replace

    def replace(source, target):
        seen.append(stat.S_IMODE(files.os.stat(source).st_mode))
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", replace)
    set_password(path, PASSWORD)
    path.chmod(0o644)  # someone loosened it: the next write makes it private again
    create_token(path, "laptop")
    assert seen == [0o600, 0o600]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    import assistant.files as files

    path = tmp_path / "operator.toml"
    set_password(path, PASSWORD)
    before = path.read_bytes()

    def broken(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", broken)
    with pytest.raises(OSError):
        set_password(path, "another long password")
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_short_password_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "operator.toml"
    with pytest.raises(OperatorError) as refused:
        set_password(path, "x" * (MIN_PASSWORD_CHARS - 1))
    assert isinstance(refused.value, AssistantError)
    assert str(MIN_PASSWORD_CHARS) in str(refused.value) and "\n" not in str(refused.value)
    assert "пароль" in refused.value.render("ru") and str(MIN_PASSWORD_CHARS) in refused.value.render("kk")
    assert not path.exists()
    set_password(path, "x" * MIN_PASSWORD_CHARS)  # exactly the minimum is enough


def test_a_token_is_returned_once_and_only_its_sha256_is_kept(tmp_path):
    path = tmp_path / "operator.toml"
    set_password(path, PASSWORD)
    first = create_token(path, "office laptop")
    second = create_token(path, "phone")
    assert first != second and len(first) >= 40
    text = path.read_text(encoding="utf-8")
    assert first not in text and second not in text
    credentials = OperatorCredentials.load(path)
    assert credentials is not None
    assert [t.name for t in credentials.tokens] == ["office laptop", "phone"]
    assert credentials.tokens[0].sha256 == hashlib.sha256(first.encode()).hexdigest()
    assert verify_password(credentials, PASSWORD)  # making tokens kept the password
    assert verify_token(credentials, first) and verify_token(credentials, second)
    assert not verify_token(credentials, first[:-1]) and not verify_token(credentials, "")
    assert not verify_token(credentials, credentials.tokens[0].sha256)  # the stored hash is not a token
    set_password(path, "a new long password")  # a new password keeps the tokens
    again = OperatorCredentials.load(path)
    assert again is not None and verify_token(again, first) and not verify_password(again, PASSWORD)


@pytest.mark.parametrize("name", ["", " padded", "two\nlines", "x" * 101])
def test_a_bad_token_name_is_refused(tmp_path, name):
    with pytest.raises(OperatorError):
        create_token(tmp_path / "operator.toml", name)
    assert not (tmp_path / "operator.toml").exists()


def test_no_password_set_verifies_nothing(tmp_path):
    path = tmp_path / "operator.toml"
    token = create_token(path, "ci")
    credentials = OperatorCredentials.load(path)
    assert credentials is not None and credentials.password_hash is None
    assert not verify_password(credentials, PASSWORD) and verify_token(credentials, token)


HOSTILE = {
    "bad syntax": b'password_hash = "unterminated\n',
    "not UTF-8": b'password_hash = "\xff\xfe"\n',
    "deep array": b"tokens = " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
    "deep table": b"tokens = " + b"{a=" * 5_000 + b"1" + b"}" * 5_000 + b"\n",
    "hash of the wrong type": b"password_hash = 3\n",
    "not an argon2id hash": b'password_hash = "$2b$12$abcdefghijklmnopqrstuv"\n',
    "argon2i, not argon2id": b'password_hash = "$argon2i$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"\n',
    "tokens not a list": b'tokens = "all"\n',
    "a token without its hash": b'[[tokens]]\nname = "a"\ncreated = 2026-01-01T00:00:00Z\n',
    "a short token hash": b'[[tokens]]\nname = "a"\nsha256 = "abc"\ncreated = 2026-01-01T00:00:00Z\n',
    "a date, not a time": b'[[tokens]]\nname = "a"\nsha256 = "' + b"a" * 64 + b'"\ncreated = 2026-01-01\n',
    "an unknown key": b'pasword_hash = "typo"\n',
    "oversized": b"# " + b"x" * MAX_FILE_BYTES + b"\n",
}


@pytest.mark.parametrize("content", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_damaged_or_hostile_file_is_one_line_naming_it(tmp_path, content):
    path = tmp_path / "operator.toml"
    path.write_bytes(content)
    with pytest.raises(OperatorError) as refused:
        OperatorCredentials.load(path)
    message = refused.value.render("en")
    assert str(path) in message and "\n" not in message
    with pytest.raises(OperatorError):  # and nothing overwrites it
        create_token(path, "x")
    assert path.read_bytes() == content


def test_a_folder_in_place_of_the_file_is_one_line(tmp_path):
    path = tmp_path / "operator.toml"
    path.mkdir()
    with pytest.raises(OperatorError, match=r"operator\.toml"):
        OperatorCredentials.load(path)


def test_a_file_that_would_outgrow_the_limit_is_not_written(tmp_path, monkeypatch):
    import assistant.operator.credentials as credentials

    path = tmp_path / "operator.toml"
    create_token(path, "first")
    before = path.read_bytes()
    monkeypatch.setattr(credentials, "MAX_FILE_BYTES", len(before) + 10)
    with pytest.raises(OperatorError, match="too many tokens"):
        create_token(path, "second")
    assert path.read_bytes() == before
