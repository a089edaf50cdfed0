"""The administrators' and operators' pages: accounts and structures, the outbox, liveness and readiness."""
from web.administration import accounts, operations, outbox, platform

BLUEPRINTS = (accounts.bp, outbox.bp, platform.bp, operations.bp)
