"""The audit log as history: hash chain and verification, replay, diagram paths, XES/CSV export."""
