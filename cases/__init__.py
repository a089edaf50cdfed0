"""Case work on a dossier beside the process: the journal (notes, attachments, observables, links), all audit events of its chain."""
