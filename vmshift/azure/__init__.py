"""The Azure side of a migration, as plain functions over the management SDK clients (no Prefect here).

In the order a wave uses them: `preflight` (the cache account), `endpoint` (its blob private endpoint and
approval), `private_dns` (zone, VNet link, zone group), `dns_gate` (the appliance resolves the account to
the endpoint, or nothing replicates), then per VM `vms` (sizing, disks imported from a recovery point,
NIC, VM), `test_migration` and its clean-up, `cutover` (with `source` for the vSphere side), rollback.
Every step can be run again: it finds what an earlier run created instead of creating it twice.
"""
