"""Deploy-time validation of a BPMN file and its forms: one validator for the CLI, the upload and the start."""
