"""The analytics API: named, allow-listed SQL operations over the warehouse (see handler.py)."""
