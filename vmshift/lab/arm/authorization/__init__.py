"""Microsoft.Authorization: role-based access as ARM enforces it, and the permissions API."""
