"""vSphere through pyvmomi: connection, inventory, snapshots, CBT, datastore range reads, power. No Prefect here."""
