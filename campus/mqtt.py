"""MQTT 5 link over paho-mqtt 2: one client, one network thread, reconnect with jittered backoff.

paho's own reconnect doubles its delay without jitter, so a broker restart
makes every gateway of a site reconnect in lock-step; :class:`MqttLink` runs
its own loop instead and waits ``Backoff.next()`` between attempts.
Subscriptions are renewed on every connect. Sockets get ``TCP_NODELAY``
(with Nagle on, a broker round trip costs tens of milliseconds at p99).

paho's message objects never leave this module: handlers receive an
:class:`Inbound` value.
"""

from __future__ import annotations

import random
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from campus.logs import get_logger
from campus.settings import Settings

__all__ = [
    "Backoff",
    "BrokerAddress",
    "Inbound",
    "MqttLink",
    "apply_credentials",
    "broker_address",
    "user_properties",
]

log = get_logger(__name__)

# A broker that has not answered CONNECT in this time is treated as down.
CONNECT_TIMEOUT_S = 5.0
KEEPALIVE_S = 15


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str = "127.0.0.1"
    port: int = 1884
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def __str__(self) -> str:
        scheme = "mqtts" if self.ca_file else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"


def broker_address(settings: Settings) -> BrokerAddress:
    return BrokerAddress(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        username=settings.mqtt_username,
        password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
        ca_file=settings.mqtt_ca_file,
        cert_file=settings.mqtt_cert_file,
        key_file=settings.mqtt_key_file,
    )


def apply_credentials(client: paho.Client, address: BrokerAddress) -> None:
    """Username/password and TLS (with a client certificate when given)."""
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.ca_file:
        client.tls_set(
            ca_certs=str(address.ca_file),
            certfile=str(address.cert_file) if address.cert_file else None,
            keyfile=str(address.key_file) if address.key_file else None,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )


@dataclass(frozen=True, slots=True)
class Inbound:
    """A received message, in our own type."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    properties: dict[str, str]


class Backoff:
    """Exponential backoff with full jitter: a random wait in [0, min(cap, base * 2**n)]."""

    def __init__(
        self, *, base_s: float = 0.25, cap_s: float = 30.0, rng: random.Random | None = None
    ) -> None:
        self._base = base_s
        self._cap = cap_s
        self._attempt = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy

    def next(self) -> float:
        ceiling = min(self._cap, self._base * (2**self._attempt))
        self._attempt = min(self._attempt + 1, 30)
        return self._rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        self._attempt = 0


def user_properties(pairs: dict[str, str]) -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = list(pairs.items())
    return props


def _properties_of(message: paho.MQTTMessage) -> dict[str, str]:
    props = getattr(message, "properties", None)
    pairs = getattr(props, "UserProperty", None) if props is not None else None
    return dict(pairs) if pairs else {}


class MqttLink:
    """A long-lived MQTT 5 connection with its own network thread.

    Use as a context manager; ``on_message`` runs on the network thread and
    must be quick (hand work to a queue). With ``manual_ack`` the caller acks
    each QoS 1 message through :meth:`ack` once it is safe to do so.
    """

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        subscriptions: Sequence[tuple[str, int]] = (),
        on_message: Callable[[Inbound], None] | None = None,
        on_connect: Callable[[], None] | None = None,
        manual_ack: bool = False,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        receive_maximum: int = 65535,
        will: tuple[str, bytes, dict[str, str]] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.address = address
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_connect_cb = on_connect
        self._clean_start = clean_start
        self._backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self.connects = 0

        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=manual_ack,
        )
        apply_credentials(client, address)
        if will is not None:
            topic, payload, props = will
            will_props = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
            will_props.UserProperty = list(props.items())
            client.will_set(topic, payload, qos=1, retain=True, properties=will_props)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        self._connect_props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        self._connect_props.SessionExpiryInterval = session_expiry_s
        self._connect_props.ReceiveMaximum = receive_maximum
        self._client = client

    # -- lifecycle -----------------------------------------------------
    def __enter__(self) -> MqttLink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"mqtt-{self._client._client_id.decode()}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._client.is_connected():
            self._client.disconnect()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- operations (thread-safe) -------------------------------------
    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        props: dict[str, str] | None = None,
    ) -> paho.MQTTMessageInfo:
        return self._client.publish(
            topic, payload, qos=qos, retain=retain, properties=user_properties(props) if props else None
        )

    def ack(self, mid: int, qos: int) -> None:
        self._client.ack(mid, qos)

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        self._subscriptions.append((topic_filter, qos))
        if self.connected:
            self._client.subscribe(topic_filter, qos)

    # -- network thread ------------------------------------------------
    def _run(self) -> None:
        client = self._client
        first = True
        while not self._stop.is_set():
            try:
                client.connect(
                    self.address.host,
                    self.address.port,
                    keepalive=KEEPALIVE_S,
                    clean_start=self._clean_start if first else False,
                    properties=self._connect_props,
                )
                first = False
            except (OSError, ssl.SSLError) as exc:
                delay = self._backoff.next()
                log.warning(
                    "mqtt.connect_failed",
                    broker=str(self.address),
                    error=type(exc).__name__,
                    retry_s=round(delay, 2),
                )
                self._stop.wait(delay)
                continue
            sock = client.socket()
            if isinstance(sock, socket.socket):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while not self._stop.is_set():
                rc = client.loop(timeout=0.05)
                if rc != paho.MQTT_ERR_SUCCESS:
                    break
            self._connected.clear()
            if self._stop.is_set():
                break
            delay = self._backoff.next()
            log.warning("mqtt.disconnected", broker=str(self.address), rc=int(rc), retry_s=round(delay, 2))
            self._stop.wait(delay)

    def _handle_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            log.error("mqtt.connect_refused", broker=str(self.address), reason=str(reason))
            return
        self.connects += 1
        self._backoff.reset()
        for topic_filter, qos in self._subscriptions:
            client.subscribe(topic_filter, qos)
        self._connected.set()
        if self._on_connect_cb is not None:
            self._on_connect_cb()

    def _handle_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        self._connected.clear()

    def _handle_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        if self._on_message is None:
            return
        self._on_message(
            Inbound(
                topic=message.topic,
                payload=bytes(message.payload),
                mid=message.mid,
                qos=message.qos,
                retain=bool(message.retain),
                properties=_properties_of(message),
            )
        )
