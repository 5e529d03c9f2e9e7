"""RMS sandbox: an independent local implementation of Rakuten's RMS APIs (Item, Inventory, Order)."""
