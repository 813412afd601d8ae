"""Installs and the tenant lifecycle: pre-auth code, the redirect back, pushes, reconciliation."""
