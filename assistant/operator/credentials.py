"""The operator file (`Settings.operator_file`, `ASSISTANT_OPERATOR_FILE`): what signing in is checked
against. Absent, sign-in is off. It holds no secret in the clear: the password as an argon2id hash
(argon2-cffi, a slow hash, so a stolen file does not give the password away cheaply) and each bearer
token as the sha256 of the token (a token is 32 random bytes, so a fast hash is enough; the token
itself is shown once, when it is made).

    password_hash = "$argon2id$v=19$m=65536,t=3,p=4$..."

    [[tokens]]
    name = "uploads from the office"
    sha256 = "9f86d0..."
    created = 2026-05-09T07:35:25Z

The file is read with tomllib, at most `MAX_FILE_BYTES` of it, and every field is checked: a damaged
or hostile file is one line naming it, never a traceback. It is written only through
`files.write_durably` with mode 0600 (never readable by others, even for a moment), under a lock, so
two commands changing it at once both count.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w
from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from assistant.errors import OperatorError
from assistant.files import locked, write_durably
from assistant.i18n import N_

MAX_FILE_BYTES = 64 * 1024
"""The operator file is a hash and a few tokens: anything larger is refused before it is parsed."""
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
"""A longer password costs argon2 time for nothing; `verify_password` refuses one at once."""
MAX_TOKEN_NAME_CHARS = 100
FILE_MODE = 0o600

HEADER = (b"# The operator's sign-in (assistant operator set-password / token): hashes only, never a password\n"
          b"# or a token. Mode 0600; keep it out of git and backups others can read.\n")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_KEYS = frozenset({"password_hash", "tokens"})
_TOKEN_KEYS = frozenset({"name", "sha256", "created"})


@dataclass(frozen=True)
class Token:
    """A bearer token as the file keeps it: its name, when it was made, and the sha256 of it."""

    name: str
    sha256: str
    created: datetime


@dataclass(frozen=True)
class OperatorCredentials:
    """What the operator file holds. `password_hash` is None until a password is set (a file may
    hold tokens only)."""

    password_hash: str | None = None
    tokens: tuple[Token, ...] = field(default_factory=tuple)

    @classmethod
    def load(cls, path: Path) -> OperatorCredentials | None:
        """The credentials in `path`; None when there is no such file (sign-in is then off). A file
        too large, not TOML, or with a missing or wrong field is an OperatorError naming it."""
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise OperatorError(N_("cannot read the operator file {path}: {error}"), path=str(path),
                                error=error.strerror or str(error)) from None
        if len(raw) > MAX_FILE_BYTES:
            raise OperatorError(N_("the operator file {path} is larger than {max} bytes: it is not one this program "
                                   "wrote; move it aside and run `assistant operator set-password`"),
                                path=str(path), max=MAX_FILE_BYTES)
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
            raise OperatorError(N_("the operator file {path} is not valid TOML: move it aside and run "
                                   "`assistant operator set-password`"), path=str(path)) from None
        return cls._from_toml(data, path)

    @classmethod
    def _from_toml(cls, data: dict[str, Any], path: Path) -> OperatorCredentials:
        def damaged(key: str) -> OperatorError:
            return OperatorError(N_("the operator file {path} is damaged: {key} is missing, unknown or of the wrong "
                                    "kind; move it aside and run `assistant operator set-password`"),
                                 path=str(path), key=key)

        for key in data:
            if key not in _KEYS:
                raise damaged(key)
        password_hash = data.get("password_hash")
        if password_hash is not None and not _is_argon2id(password_hash):
            raise damaged("password_hash")
        entries = data.get("tokens", [])
        if not isinstance(entries, list):
            raise damaged("tokens")
        tokens = []
        for number, entry in enumerate(entries, 1):
            where = f"tokens[{number}]"
            if not isinstance(entry, dict) or set(entry) != _TOKEN_KEYS:
                raise damaged(where)
            name, digest, created = entry["name"], entry["sha256"], entry["created"]
            if not (isinstance(name, str) and _good_name(name)):
                raise damaged(f"{where}.name")
            if not (isinstance(digest, str) and _SHA256_HEX.fullmatch(digest)):
                raise damaged(f"{where}.sha256")
            if not isinstance(created, datetime):
                raise damaged(f"{where}.created")
            tokens.append(Token(name, digest, created))
        return cls(password_hash, tuple(tokens))

    def to_toml(self) -> bytes:
        """The file's bytes: a comment saying what it is, then the TOML (written by tomli-w)."""
        data: dict[str, Any] = {}
        if self.password_hash is not None:
            data["password_hash"] = self.password_hash
        if self.tokens:
            data["tokens"] = [{"name": t.name, "sha256": t.sha256, "created": t.created} for t in self.tokens]
        return HEADER + tomli_w.dumps(data).encode("utf-8")


def _is_argon2id(value: object) -> bool:
    """Whether `value` is an argon2id hash argon2-cffi can verify against (not some other string)."""
    if not isinstance(value, str):
        return False
    try:
        return extract_parameters(value).type is Type.ID
    except (InvalidHashError, ValueError):
        return False


def _good_name(name: str) -> bool:
    return 0 < len(name) <= MAX_TOKEN_NAME_CHARS and name.isprintable() and name.strip() == name


def _encodable(text: str) -> bool:
    """Whether `text` is real text (not bytes a terminal in another encoding smuggled in as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _hasher() -> PasswordHasher:
    """argon2-cffi's defaults: argon2id with RFC 9106's low-memory parameters (64 MiB, 3 passes)."""
    return PasswordHasher()


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _change(path: Path, change: Callable[[OperatorCredentials], OperatorCredentials]) -> OperatorCredentials:
    """Read, change and write the operator file under its lock, so a concurrent change is not lost."""
    with locked(path.with_name(f".{path.name}.lock")):
        before = OperatorCredentials.load(path) or OperatorCredentials()
        after = change(before)
        content = after.to_toml()
        if len(content) > MAX_FILE_BYTES:
            raise OperatorError(N_("the operator file {path} would be larger than {max} bytes: it holds too many "
                                   "tokens"), path=str(path), max=MAX_FILE_BYTES)
        write_durably(path, content, mode=FILE_MODE)
    return after


def set_password(path: Path, password: str) -> None:
    """Store `password`'s argon2id hash in the operator file (made if missing; its tokens kept).
    Shorter than MIN_PASSWORD_CHARS is refused: the hash only slows guessing, it cannot make a short
    password safe."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise OperatorError(N_("the password is too short: use at least {min} characters (a few words make a good "
                               "one)"), min=MIN_PASSWORD_CHARS)
    if len(password) > MAX_PASSWORD_CHARS:
        raise OperatorError(N_("the password is too long: use at most {max} characters"), max=MAX_PASSWORD_CHARS)
    if not _encodable(password):
        raise OperatorError(N_("the password is not valid UTF-8 text"))
    password_hash = _hasher().hash(password)
    _change(path, lambda credentials: replace(credentials, password_hash=password_hash))


def verify_password(credentials: OperatorCredentials, password: str) -> bool:
    """Whether `password` is the operator's: argon2's own comparison (constant-time). False when
    no password is set, or for one longer than any set_password accepts."""
    if credentials.password_hash is None or len(password) > MAX_PASSWORD_CHARS or not _encodable(password):
        return False
    try:
        return _hasher().verify(credentials.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_token(path: Path, name: str) -> str:
    """A new bearer token named `name`, its sha256 added to the operator file; the token itself is
    returned to be shown once and is kept nowhere."""
    if not _good_name(name):
        raise OperatorError(N_("a token's name must be 1 to {max} printable characters on one line, without spaces "
                               "at either end"), max=MAX_TOKEN_NAME_CHARS)
    token = secrets.token_urlsafe(32)
    entry = Token(name, _token_digest(token), datetime.now(UTC).replace(microsecond=0))
    _change(path, lambda credentials: replace(credentials, tokens=(*credentials.tokens, entry)))
    return token


def token_name(credentials: OperatorCredentials, token: str) -> str | None:
    """The name of the operator's bearer token `token`, or None: every stored sha256 compared
    (hmac.compare_digest, no early stop), as in verify_token."""
    digest = _token_digest(token)
    found = None
    for entry in credentials.tokens:
        if hmac.compare_digest(digest, entry.sha256):
            found = entry.name
    return found


def verify_token(credentials: OperatorCredentials, token: str) -> bool:
    """Whether `token` is one of the operator's bearer tokens: its sha256 compared with every stored
    one (hmac.compare_digest, and no early stop, so the time says nothing of which or how close)."""
    digest = _token_digest(token)
    found = False
    for entry in credentials.tokens:
        found |= hmac.compare_digest(digest, entry.sha256)
    return found
