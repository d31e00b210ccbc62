"""OS preparation ("hydration"): the migrated VM is made ready for Azure on the appliance, never on the source and
never on the replica. A recovery point is opened through an NBD view (reads from its blob snapshot, writes into an
overlay), libguestfs inspects the guest and the rules change it, and the overlay's blocks go into a fresh page blob
(the prepared copy) from which the managed disk is imported. See docs/os-preparation.md."""
