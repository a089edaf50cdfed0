"""The declaration portal of health structures: the four-step wizard, its confirmation, abandon, and the
autosave that keeps what anyone types in a form (declaration and task pages)."""
from web.declaration import declare, drafts

BLUEPRINTS = (declare.bp, drafts.bp,)
