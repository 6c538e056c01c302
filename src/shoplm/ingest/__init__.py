"""Bring catalogs and behaviour logs into the store: read, map, validate, store in batches."""

from shoplm.ingest.load import ingest_file, ingest_records
from shoplm.ingest.report import IngestError, IngestReport

__all__ = ["IngestError", "IngestReport", "ingest_file", "ingest_records"]
