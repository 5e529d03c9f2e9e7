"""Kura's settings: one object read from KURA_* environment variables (and .env)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob Kura has; the URLs alone choose embedded or distributed mode."""

    model_config = SettingsConfigDict(env_prefix="KURA_", env_file=".env", extra="ignore")

    var_dir: Path = Field(default=Path("var"), description="Where the embedded mode keeps its files.")
    database_url: str = ""
    queue_url: str = ""
    rate_limit_url: str = "memory://"
    rms_rates: str = Field(default="", description="RMS rates per function replacing Kura's defaults: "
                           "'items.search=5/second, inventories.bulk.upsert=1/second' (default= for functions "
                           "Kura has no figure for).")
    secret_key: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    default_locale: str = "ja"
    session_max_age_s: int = 14 * 24 * 3600

    def model_post_init(self, __context: object) -> None:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.var_dir / 'kura.db').as_posix()}"
        if not self.queue_url:
            self.queue_url = f"sqlite:///{(self.var_dir / 'queue.db').as_posix()}"

    @field_validator("rms_rates")
    @classmethod
    def _rates(cls, value: str) -> str:
        from kura.ratelimit import parse_rates

        parse_rates(value)  # a wrong entry stops the process at start, saying which
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def fernet_key(self) -> bytes:
        """The key that encrypts secrets at rest: KURA_SECRET_KEY, else a key file made on first use."""
        if self.secret_key:
            return self.secret_key.encode()
        key_file = self.var_dir / "secret.key"
        if not key_file.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
        return key_file.read_bytes().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
