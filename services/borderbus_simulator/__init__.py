"""The border event simulator: a seeded scenario of agency events with planted smuggling patterns."""
