"""Reader gateways: scan, aggregate, sign, journal to disk, publish over MQTT 5, trim on committed acks."""
