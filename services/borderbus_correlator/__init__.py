"""The correlator: stream processors that turn agency events into shared alerts, per subject."""
