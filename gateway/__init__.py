"""Reader gateways: scan, aggregate, sign, journal to disk, publish over MQTT 5, trim on committed acks.

Public surface, by module:

- :mod:`gateway.models`: ``Advert``, ``CardRead`` (what a backend heard), ``BadgeIdentity``.
- :mod:`gateway.frames`: iBeacon / Eddystone / badge-frame encoders and parsers, ``badge_advert``.
- :mod:`gateway.identify`: ``identify(advert, hash_key=)``, ``card_identity(card, hash_key=)``.
- :mod:`gateway.aggregate`: ``WindowAggregator``, ``TapDebouncer`` (pure, time passed in).
- :mod:`gateway.readers`: card reader formats and ``StreamDecoder`` (pure).
- :mod:`gateway.backends`: ``ScanSink``, ``ScannerBackend``; ``ble``, ``serial_reader``, ``wedge``, ``sim``.
- :mod:`gateway.runner`: ``Gateway`` (backend -> aggregation -> uplink).
- :mod:`gateway.uplink`, :mod:`gateway.journal`: signing, publishing, the durable journal.
- :mod:`gateway.config`, :mod:`gateway.service`: the TOML file and ``build_gateway`` for ``campus gateway run``.
- :mod:`gateway.errors`: the exception tree.
"""
