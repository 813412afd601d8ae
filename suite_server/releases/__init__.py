"""Mini-program code releases (docs/releases.md)."""
