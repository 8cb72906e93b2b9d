"""Historical reports: 15-minute interval statistics per queue and per agent, computed from events."""
