"""Flask commands: database, demo data, deployment, named scenarios, audit, sweeps."""
