"""The Cellule ACSS's knowledge: reflex sheets and providers, retex and the knowledge base, weak signals,
the observatory's statistics."""
from web.knowledge import retex, sheets, signals, statistics

BLUEPRINTS = (sheets.bp, retex.bp, signals.bp, statistics.bp,)
