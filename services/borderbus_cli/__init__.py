"""The ``borderbus`` command, composed on top of the library and the services.

It lives above them because it is the one place that needs all of them; the library below never
imports a service, and each service registers only its own subcommands. For the same reason
``python -m borderbus_cli.openapi`` lives here: it writes every service's OpenAPI description.
"""
