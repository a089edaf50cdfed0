"""Structures (FINESS) and user accounts: administration, imports, password resets and single sign-on identities."""
