"""A delta-sync pass's cycle rule under which every protected VM is due at once: Azure Migrate's rule waits
max(minimum, half the last cycle's duration) after a cycle ends, so the maximum is brought down too (a VM whose
cycle had just ended was otherwise not due)."""

DUE_NOW = {"min_interval_minutes": 1e-6, "max_interval_minutes": 1e-6}
