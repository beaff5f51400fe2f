"""What interactions say about defenses: detection of adversarial inputs (ML-LOO and order bands), recovery by
restoring cells, and the interaction strength by order."""
