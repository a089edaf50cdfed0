"""Time as an input: the application clock, the business calendar, leases on due rows."""
