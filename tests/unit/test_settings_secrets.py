"""Passwords reach librdkafka and nothing else: not repr(), not error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from borderbus.config import CredentialsError, Settings, redact

SECRET = "s3cr3t-Do-Not-Print-4f1c"


def test_repr_of_settings_never_shows_a_password(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"KAFKA_SASL_USERNAME": "agency-uk-bf", "KAFKA_SASL_PASSWORD": SECRET, "BORDERBUS_KAFKA_SSL_KEY_PASSWORD": SECRET}
    )
    assert SECRET not in repr(settings) and SECRET not in str(settings) and SECRET not in f"{settings!r}"
    assert "agency-uk-bf" in repr(settings)
    assert settings.kafka_client_config()["sasl.password"] == SECRET  # for librdkafka only
    assert SECRET not in str(redact(settings.kafka_client_config()))


def test_a_principal_reads_its_own_password_file(tmp_path: Path) -> None:
    (tmp_path / "correlator").write_text(SECRET + "\n")
    settings = Settings.from_env({"BORDERBUS_CREDENTIALS_DIR": str(tmp_path)}).with_default_principal("correlator")
    config = settings.kafka_client_config()
    assert (config["sasl.username"], config["sasl.password"], config["sasl.mechanism"]) == ("correlator", SECRET, "SCRAM-SHA-512")
    assert SECRET not in repr(settings)
    # a part of the process switches principal; an explicit choice of the environment wins over defaults
    assert settings.as_principal("desk-reader").kafka_principal == "desk-reader"
    chosen = Settings.from_env({"BORDERBUS_PRINCIPAL": "observer", "BORDERBUS_CREDENTIALS_DIR": str(tmp_path)})
    assert chosen.with_default_principal("admin").kafka_principal == "observer"


def test_a_missing_password_is_a_clear_error_without_secrets(tmp_path: Path) -> None:
    settings = Settings.from_env({"BORDERBUS_CREDENTIALS_DIR": str(tmp_path)}).with_default_principal("agency-uk-bf")
    with pytest.raises(CredentialsError, match=r"agency-uk-bf.*users apply"):
        settings.kafka_client_config()
    with pytest.raises(CredentialsError, match="BORDERBUS_PRINCIPAL"):
        Settings.from_env({}).kafka_client_config()


def test_plaintext_settings_carry_no_sasl() -> None:
    config = Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}).with_default_principal("admin").kafka_client_config()
    assert not any(key.startswith("sasl.") for key in config)
