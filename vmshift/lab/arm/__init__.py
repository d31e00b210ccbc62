"""The lab's Azure Resource Manager: an HTTPS simulator of the ARM operations vmshift uses, with real DNS."""
