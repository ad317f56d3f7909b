"""Shared kernel: settings, database and migrations, wire types, signing, topics, MQTT helpers, the CLI.

Domain logic lives in the domain packages; this package stays small.
"""

__version__ = "0.1.0"
