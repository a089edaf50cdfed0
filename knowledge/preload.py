"""Builds the anonymization engine when imported: for a process that forks children which may need it, so
that they start with it in memory (copy on write) instead of each loading it.

Its user is the dry run's fork server (cli/dryrun.py). A scenario that closes a dossier records its RETEX,
which proposes an anonymized text, and the engine's French spaCy pipeline takes seconds to load: without
this, every dry run's child loaded it again, and that was most of a dry run's time.
"""
from __future__ import annotations

from knowledge import anonymize_engine

try:
    anonymize_engine.engine()
except Exception:  # noqa: BLE001 - a preload must not stop the fork server: a child then builds the engine
    pass           # itself, and a failure there is reported by the scenario that needed it
