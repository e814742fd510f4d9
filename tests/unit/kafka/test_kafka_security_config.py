"""Kafka SASL/SSL settings reach every client: kafka-python (`up`, `dlq`) through `client_config`,
the producers' librdkafka (`emit`, `simulate`, the bench) through `librdkafka_config`, and the Faust
worker's aiokafka through `faust_credentials`, and they agree."""

from __future__ import annotations

import datetime as dt
import ssl

import pytest

from touchpulse.kafka.topics import client_config, librdkafka_config
from touchpulse.settings import SettingsError, load_settings
from touchpulse.streams.app import faust_credentials


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory):
    """A self-signed CA certificate (PEM) with a recognisable subject."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "touchpulse test kafka CA")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def settings_for(**env):
    return load_settings({f"TOUCHPULSE_{k.upper()}": v for k, v in env.items()}, dotenv=None)


def aiokafka_auth(settings) -> dict:
    """What Faust hands to aiokafka for these settings."""
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
    return dict(credentials_to_aiokafka_auth(faust_credentials(settings)))


def ca_subjects(context: ssl.SSLContext) -> set[str]:
    return {v for cert in context.get_ca_certs() for rdn in cert["subject"] for k, v in rdn if k == "commonName"}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_carries_mechanism_user_password_and_ca_to_both_clients(mechanism, ca_file):
    s = settings_for(kafka_security_protocol="sasl_ssl", kafka_sasl_mechanism=mechanism,
                     kafka_sasl_username="svc-touchpulse", kafka_sasl_password="p@ss:w0rd/'\"",
                     kafka_ssl_cafile=ca_file)
    assert client_config(s) == {"security_protocol": "SASL_SSL", "sasl_mechanism": mechanism,
                                "sasl_plain_username": "svc-touchpulse", "sasl_plain_password": "p@ss:w0rd/'\"",
                                "ssl_cafile": ca_file}
    auth = aiokafka_auth(s)
    assert (auth["security_protocol"], auth["sasl_mechanism"]) == ("SASL_SSL", mechanism)
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("svc-touchpulse", "p@ss:w0rd/'\"")
    context = auth["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert "touchpulse test kafka CA" in ca_subjects(context)


def test_sasl_plaintext_sends_credentials_without_tls():
    s = settings_for(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="SCRAM-SHA-256",
                     kafka_sasl_username="u", kafka_sasl_password="pw")
    assert client_config(s)["security_protocol"] == "SASL_PLAINTEXT"
    auth = aiokafka_auth(s)
    assert (auth["security_protocol"], auth["sasl_mechanism"], auth["sasl_plain_password"]) == \
        ("SASL_PLAINTEXT", "SCRAM-SHA-256", "pw")
    assert auth["ssl_context"] is None


def test_ssl_only_verifies_brokers_with_the_ca_file(ca_file):
    s = settings_for(kafka_security_protocol="SSL", kafka_ssl_cafile=ca_file)
    assert client_config(s) == {"security_protocol": "SSL", "ssl_cafile": ca_file}
    auth = aiokafka_auth(s)
    assert auth["security_protocol"] == "SSL" and "touchpulse test kafka CA" in ca_subjects(auth["ssl_context"])


def test_plaintext_by_default_and_no_credentials_anywhere():
    s = settings_for()
    assert client_config(s) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(s) is None
    assert aiokafka_auth(s) == {"security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("protocol, mechanism", [("SASL_PLAINTEXT", None), ("SASL_SSL", None),
                                                 ("SASL_SSL", "scram-sha-512")])
def test_sasl_mechanism_is_refused_or_means_the_same_for_both_clients(protocol, mechanism, ca_file):
    """Faust falls back to PLAIN and upper-cases; kafka-python has no default and compares names
    exactly, failing only at the handshake. `touchpulse up` and the worker must not disagree:
    either the settings refuse the value or both clients use the same mechanism."""
    env = dict(kafka_security_protocol=protocol, kafka_sasl_username="u", kafka_sasl_password="pw",
               kafka_ssl_cafile=ca_file)
    if mechanism:
        env["kafka_sasl_mechanism"] = mechanism
    try:
        s = settings_for(**env)
    except SettingsError as exc:
        assert "TOUCHPULSE_KAFKA_SASL_MECHANISM" in str(exc)
        return
    cfg, auth = client_config(s), aiokafka_auth(s)
    assert cfg.get("sasl_mechanism") == auth["sasl_mechanism"]
    assert cfg["sasl_mechanism"] in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    assert (cfg.get("sasl_plain_username"), cfg.get("sasl_plain_password")) == ("u", "pw")


def test_every_key_is_one_kafka_python_clients_accept(ca_file):
    """kafka-python refuses unknown configuration keys at construction; catch a misspelt one here."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient
    s = settings_for(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN", kafka_sasl_username="u",
                     kafka_sasl_password="pw", kafka_ssl_cafile=ca_file)
    for client in (KafkaConsumer, KafkaProducer, KafkaAdminClient):
        assert set(client_config(s)) <= set(client.DEFAULT_CONFIG), client.__name__


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_producers_get_the_same_settings_under_librdkafka_names(mechanism, ca_file):
    """librdkafka refuses unknown keys and unsupported values (a mechanism it was built without)
    when the producer is created: create one."""
    from confluent_kafka import Producer
    s = settings_for(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism=mechanism, kafka_sasl_username="u",
                     kafka_sasl_password="p@ss:w0rd", kafka_ssl_cafile=ca_file)
    cfg = librdkafka_config(s)
    assert cfg == {"security.protocol": "SASL_SSL", "sasl.mechanism": mechanism, "sasl.username": "u",
                   "sasl.password": "p@ss:w0rd", "ssl.ca.location": ca_file}
    Producer({"bootstrap.servers": "127.0.0.1:9", "log_level": 0, **cfg})
    assert librdkafka_config(settings_for()) == {"security.protocol": "PLAINTEXT"}
