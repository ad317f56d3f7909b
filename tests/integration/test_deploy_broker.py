"""deploy/mosquitto: TLS client-certificate identities and the per-gateway topic ACL, on a real Mosquitto."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from campus.broker import port_is_open
from campus.mqtt import BrokerAddress, Inbound, MqttLink
from tests.builders import wait_for
from tests.servers import free_port

pytestmark = pytest.mark.servers
DEPLOY = Path(__file__).parents[2] / "deploy" / "mosquitto"


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _issue(
    ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, cn: str, *, server: bool = False
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "campus test CA")])
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (tmp_path / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cn, server in (("broker", True), ("gw-1", False), ("gw-2", False), ("ingest", False)):
        key, cert = _issue(ca_key, ca_name, cn, server=server)
        _write_key(tmp_path / f"{cn}.key", key)
        (tmp_path / f"{cn}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    port = free_port()
    conf = (DEPLOY / "campus.conf").read_text()
    conf = conf.replace("/etc/mosquitto/campus/", f"{tmp_path}/").replace(
        "listener 8883", f"listener {port} 127.0.0.1"
    )
    conf = conf.replace("/var/lib/mosquitto/", f"{tmp_path}/").replace(
        "log_dest syslog", f"log_dest file {tmp_path}/log"
    )
    conf += f"user {__import__('getpass').getuser()}\n"
    shutil.copy(DEPLOY / "acl", tmp_path / "acl")
    (tmp_path / "mosquitto.conf").write_text(conf)
    process = subprocess.Popen(
        ["mosquitto", "-c", str(tmp_path / "mosquitto.conf")], stderr=subprocess.DEVNULL
    )
    try:
        assert wait_for(lambda: port_is_open("127.0.0.1", port), timeout=10), (
            "the deploy config did not start"
        )
        yield port, tmp_path
    finally:
        process.terminate()
        process.wait(timeout=10)


def _link(port: int, certs: Path, cn: str, *, on_message=None, subscriptions=()) -> MqttLink:  # type: ignore[no-untyped-def]
    address = BrokerAddress(
        host="127.0.0.1",
        port=port,
        ca_file=certs / "ca.crt",
        cert_file=certs / f"{cn}.crt",
        key_file=certs / f"{cn}.key",
    )
    return MqttLink(address, client_id=f"test-{cn}", on_message=on_message, subscriptions=subscriptions)


def test_gateway_identity_and_acl(tls_broker: tuple[int, Path]) -> None:
    port, certs = tls_broker
    received: list[Inbound] = []
    with (
        _link(
            port,
            certs,
            "ingest",
            on_message=received.append,
            subscriptions=[("$share/ingest/campus/v1/s1/gateways/+/sightings", 1)],
        ) as ingest,
        _link(port, certs, "gw-1") as gw1,
    ):
        assert ingest.wait_connected(10) and gw1.wait_connected(10)
        time.sleep(0.3)
        gw1.publish("campus/v1/s1/gateways/gw-1/sightings", b"own").wait_for_publish(5)
        gw1.publish("campus/v1/s1/gateways/gw-2/sightings", b"impersonation").wait_for_publish(5)
        gw1.publish("campus/v1/s1/gateways/gw-1/sightings", b"own again").wait_for_publish(5)
        assert wait_for(lambda: len(received) == 2, timeout=10)
        time.sleep(0.5)
        assert [m.payload for m in received] == [b"own", b"own again"]
        assert {m.topic for m in received} == {"campus/v1/s1/gateways/gw-1/sightings"}


def test_gateway_reads_only_its_own_acks(tls_broker: tuple[int, Path]) -> None:
    port, certs = tls_broker
    own: list[Inbound] = []
    other: list[Inbound] = []
    with (
        _link(
            port, certs, "gw-1", on_message=own.append, subscriptions=[("campus/v1/s1/gateways/gw-1/ack", 1)]
        ) as a,
        _link(
            port,
            certs,
            "gw-2",
            on_message=other.append,
            subscriptions=[("campus/v1/s1/gateways/gw-1/ack", 1)],
        ) as b,
        _link(port, certs, "ingest") as ingest,
    ):
        assert a.wait_connected(10) and b.wait_connected(10) and ingest.wait_connected(10)
        time.sleep(0.3)
        ingest.publish("campus/v1/s1/gateways/gw-1/ack", b"ack").wait_for_publish(5)
        assert wait_for(lambda: len(own) == 1, timeout=10)
        time.sleep(0.5)
        assert other == []


def test_no_certificate_no_connection(tls_broker: tuple[int, Path]) -> None:
    port, _ = tls_broker
    anonymous = MqttLink(BrokerAddress(host="127.0.0.1", port=port), client_id="anon")
    with anonymous:
        assert not anonymous.wait_connected(2)
