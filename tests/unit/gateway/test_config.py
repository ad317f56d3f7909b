"""A gateway's configuration file: the [scanner] section, and one clear error naming each bad setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from campus import signing
from campus.cli import main
from gateway.config import ConfigError, SerialScanner, WedgeScanner, load_config
from gateway.service import build_gateway

HASH_KEY = "ab" * 32


def write(tmp_path: Path, extra: str = "", *, hash_key: str = HASH_KEY) -> Path:
    key_file = tmp_path / "gw.key"
    key_file.write_text(signing.private_key_bytes(signing.generate_private_key()).hex())
    path = tmp_path / "gw.toml"
    path.write_text(
        f'gateway_id = "gw-1"\nsite = "demo"\nprivate_key_file = "gw.key"\nbadge_hash_key = "{hash_key}"\n'
        "window_s = 2.0\n"
        f'[journal]\npath = "journal/gw-1.journal"\n{extra}'
    )
    return path


def test_defaults_to_ble_and_resolves_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path))
    assert config.scanner.kind == "ble"
    assert config.window_ms == 2000
    assert config.journal.path == tmp_path / "journal" / "gw-1.journal"


def test_serial_and_wedge_sections(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[scanner]\nkind = "serial"\nport = "/dev/ttyUSB0"\nformat = "hex-uid"\n')
    )
    assert config.scanner == SerialScanner(kind="serial", port="/dev/ttyUSB0", format="hex-uid")
    config = load_config(write(tmp_path, '[scanner]\nkind = "wedge"\npath = "cards.fifo"\n'))
    assert config.scanner == WedgeScanner(kind="wedge", path=str(tmp_path / "cards.fifo"))


@pytest.mark.parametrize(
    ("extra", "hash_key", "named"),
    [
        ('[scanner]\nkind = "serial"\n', HASH_KEY, "scanner.serial.port"),
        ('[scanner]\nkind = "serial"\nport = "x"\nformat = "wiegand"\n', HASH_KEY, "scanner.serial.format"),
        ('[scanner]\nkind = "zigbee"\n', HASH_KEY, "scanner"),
        ('[scanner]\nkind = "ble"\nadapter = "usb0"\n', HASH_KEY, "scanner.ble.adapter"),
        ('[scanner]\nkind = "sim"\nspeed = 2\n', HASH_KEY, "scanner.sim.speed"),
        ("", "abcd", "badge_hash_key"),
    ],
)
def test_a_bad_setting_is_named(tmp_path: Path, extra: str, hash_key: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, extra, hash_key=hash_key))
    assert f"{named}:" in str(caught.value)
    assert HASH_KEY not in str(caught.value)  # the secret is never echoed


def test_an_unreadable_key_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[scanner]\nkind = "sim"\n')
    (tmp_path / "gw.key").write_text("not hex")
    with pytest.raises(ConfigError, match="private_key_file"):
        build_gateway(load_config(path))


def test_cli_names_the_bad_setting_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[scanner]\nkind = "serial"\n')
    assert main(["gateway", "run", "--config", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "scanner.serial.port: Field required" in err
    assert main(["gateway", "run", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "cannot read" in capsys.readouterr().err
