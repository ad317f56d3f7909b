"""Privacy: pseudonymous keys, rotating badge identifiers, key wrapping, consent.

Used by every other package; nothing here reads a clock or a socket except
the repository modules.
"""
