"""The key that signs access tokens: never a constant of the source code.

`CAREPLAN_SECRET_KEY` when it is set. Otherwise a key file (`CAREPLAN_SECRET_KEY_FILE`, by
default beside the SQLite database, or in the working folder with PostgreSQL):

* in development and test the first start generates a random key and writes it to a new file
  readable by its owner alone (0600). The file is created with `O_EXCL`, so of several workers
  starting at once exactly one writes it, and every worker then reads the key back from the
  file: they all sign with the same key.
* in production the key is never generated: the file must exist already (or the environment
  variable be set), because a key made up by one container would differ from its replicas' and
  would vanish with the container.

A key file that others may read, or that holds fewer than 32 characters, is refused.
"""

from __future__ import annotations

import os
import secrets
import stat
import time
from pathlib import Path

from app.core.config import SECRET_KEY_MIN_LENGTH, Settings

KEY_FILE_MODE = 0o600
# a worker that finds the file just created by another waits this long for its content
WRITE_WAIT_S = 5.0
_POLL_S = 0.02


class SecretKeyError(RuntimeError):
    """The signing key cannot be had: the message says what to do."""


def signing_key(settings: Settings) -> str:
    """The key this process signs and checks access tokens with."""
    if settings.secret_key is not None:
        return settings.secret_key
    path = settings.secret_key_path()
    if settings.environment == "production":
        return read_key_file(path)
    return ensure_key_file(path)


def ensure_key_file(path: Path, wait_s: float = WRITE_WAIT_S) -> str:
    """The key in `path`, generated first (secrets.token_urlsafe(48), mode 0600) when the file
    does not exist. Safe when several processes call it at once: one creates, all read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError:
        return read_key_file(path, wait_s)
    try:
        os.fchmod(fd, KEY_FILE_MODE)  # exactly 0600, whatever the umask
        os.write(fd, (secrets.token_urlsafe(48) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return read_key_file(path)


def read_key_file(path: Path, wait_s: float = 0.0) -> str:
    """The key in an existing file. An empty file is waited for up to `wait_s` seconds (another
    process may have created it a moment ago and be writing it)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise SecretKeyError(
                f"no signing key: set CAREPLAN_SECRET_KEY, or put a key of "
                f"{SECRET_KEY_MIN_LENGTH}+ characters in {path} (mode 0600)"
            ) from None
        except OSError as error:
            raise SecretKeyError(f"cannot read the key file {path}: {error}") from error
        if stat.S_IMODE(mode) & 0o077:
            raise SecretKeyError(
                f"the key file {path} may be read by others: `chmod 600 {path}`, "
                "and replace the key if anyone may have read it"
            )
        if not text and time.monotonic() < deadline:
            time.sleep(_POLL_S)
            continue
        if len(text) < SECRET_KEY_MIN_LENGTH:
            raise SecretKeyError(
                f"the key file {path} holds no key of {SECRET_KEY_MIN_LENGTH}+ characters"
            )
        return text
