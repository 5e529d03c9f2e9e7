"""A local stand-in for Yamato, Sagawa and Japan Post: issues tracking numbers and moves parcels on a clock."""
