"""The analysts' case work: the inbox, the task pages and their forms, the dossier list and fiche de suivi,
the journal of a dossier (notes, attachments, indicators, links)."""
from web.casework import dossiers, inbox, journal, tasks

BLUEPRINTS = (tasks.bp, inbox.bp, dossiers.bp, journal.bp,)
