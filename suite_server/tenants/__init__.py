"""Tenants: one authorization of an app, its states and its history (docs/tenants.md)."""
