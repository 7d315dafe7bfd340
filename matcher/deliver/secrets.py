"""The link-signing key: read from the environment variable the config names, else from a file."""
from __future__ import annotations

import os
import secrets as pysecrets

from matcher.config import Config, ConfigError


def ensure_secret(cfg: Config) -> str:
    """Make sure a key exists; create the key file (mode 600) when neither source has one. Says where it is."""
    if os.environ.get(cfg.secrets.secret_env):
        return f"environment variable {cfg.secrets.secret_env}"
    path = cfg.path(cfg.secrets.secret_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pysecrets.token_urlsafe(48))
    return f"file {path}"


def signing_key(cfg: Config) -> str:
    value = os.environ.get(cfg.secrets.secret_env)
    if value:
        return value
    path = cfg.path(cfg.secrets.secret_file)
    if not path.exists():
        raise ConfigError(
            f"secrets.secret_file: {path} does not exist and {cfg.secrets.secret_env} is not set; run `matcher init`"
        )
    key = path.read_text().strip()
    if len(key) < 16:
        raise ConfigError(f"secrets.secret_file: {path} holds a key shorter than 16 characters")
    return key
