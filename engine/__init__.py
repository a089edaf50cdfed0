"""SpiffWorkflow wiring: parsing and validation, state load/dump, compaction, restricted expressions, clock hooks."""
