"""Prefect tasks, one module per stage of the DAG, each task a declaration (retries, tags, names) over one call
into vmshift; slots.py is the slot engine and retry.py the one place that decides what is transient."""
