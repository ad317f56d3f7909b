"""Regenerate the committed JSON Schemas: ``python -m campus.schemas``."""

from campus.schemas import write

write()
