"""The commands: deployment and definitions, command context, start/complete/fire/migrate, row sync, forms."""
