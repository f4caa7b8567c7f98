"""Execution: the order lifecycle behind the gate, UNKNOWN resolution, flatten and cancel-all."""
