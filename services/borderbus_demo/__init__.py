"""`make demo`: runs every service of the bus on this machine and shows what flows through it."""
