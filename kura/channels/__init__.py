"""Sales-channel connectors: one package per marketplace (today only Rakuten Ichiba)."""
