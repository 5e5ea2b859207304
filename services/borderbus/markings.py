"""The bus's two scales, defined once: alert severities and TLP handling markings, lowest first.

The correlator ranks and escalates by them, the desk filters and routes by them, the CLI offers them.
"""

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
TLP_ORDER = ("CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED")
