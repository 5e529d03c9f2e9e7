"""Kura's job layer: Huey carries small (kind, store) kicks; schedules, leases and runs live in the database."""
