"""Run-time pieces the composition root (`titan.core`) starts: the venue link."""
