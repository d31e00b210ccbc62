"""The `vmshift` command and `make demo`: they use the library, the lab and Prefect, so they live outside vmshift/."""
