"""The commands, one transaction each: deployment and definitions, command context, start/complete/fire/migrate,
row sync, form validation, and the sweeps that fire due timers and reminders through them."""
