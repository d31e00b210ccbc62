"""Microsoft.SqlVirtualMachine: the SQL Server VM resource that carries a VM's SQL Server licence."""
