"""What the Cellule ACSS maintains for phases 4 and 6: reflex sheets, providers, retex and knowledge base, weak signals, statistics."""
