"""The link-signing key: read from the environment variable the config names, else from a file."""
from __future__ import annotations

import os
import secrets as pysecrets

from matcher.config import Config, ConfigError


def ensure_secret(cfg: Config) -> str:
    """Make sure a key exists; create the key file (mode 600) when neither source has one. Says where it is."""
    if os.environ.get(cfg.secrets.secret_env, "").strip():
        signing_key(cfg)  # refuses a short key now, at init, naming the variable
        return f"environment variable {cfg.secrets.secret_env}"
    path = cfg.path(cfg.secrets.secret_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pysecrets.token_urlsafe(48))
    return f"file {path}"


MIN_KEY_CHARS = 32  # whatever the source: a short key makes every link forgeable


def signing_key(cfg: Config) -> str:
    value = os.environ.get(cfg.secrets.secret_env)
    if value is not None and value.strip():
        if len(value.strip()) < MIN_KEY_CHARS:
            raise ConfigError(f"secrets.secret_env: the environment variable {cfg.secrets.secret_env} holds a key of "
                              f"{len(value.strip())} characters; at least {MIN_KEY_CHARS} are needed (unset it and "
                              "`matcher init` makes a strong key file)")
        return value.strip()
    path = cfg.path(cfg.secrets.secret_file)
    if not path.exists():
        raise ConfigError(
            f"secrets.secret_file: {path} does not exist and {cfg.secrets.secret_env} is not set; run `matcher init`"
        )
    if path.is_dir():
        raise ConfigError(f"secrets.secret_file: {path} is a folder, not a key file")
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"secrets.secret_file: {path} cannot be read ({getattr(e, 'strerror', None) or e})") from None
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(f"secrets.secret_file: {path} holds a key shorter than {MIN_KEY_CHARS} characters")
    return key
