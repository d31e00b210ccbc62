"""Where source meets target: the appliance, its connections, capacity, the target VM, cutover, the live plan checks.

Nothing in vmshift/ below this package imports it; it imports no Prefect.
"""
