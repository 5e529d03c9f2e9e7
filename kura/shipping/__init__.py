"""Shipping: carriers (create shipment, track, cancel), tracking numbers and statuses, and labels."""
