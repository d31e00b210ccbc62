"""Prefect tasks, one module per stage of the DAG; each calls the vmshift library and nothing else."""
