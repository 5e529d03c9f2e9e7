"""Operations: health and readiness checks, Prometheus metrics, structured (JSON) logs without personal data."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ObservabilitySettings(BaseSettings):
    """KURA_LOG_FORMAT (text or json) and KURA_METRICS_TOKEN (a bearer token /metrics asks for, if set)."""

    model_config = SettingsConfigDict(env_prefix="KURA_", env_file=".env", extra="ignore")

    log_format: str = "text"
    log_level: str = "INFO"
    metrics_token: str = ""
