"""Turns plans into scheduled runs and prepares the Prefect server the deployments in prefect.yaml run on."""
