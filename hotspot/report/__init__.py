"""The HTML report a needs assessment publishes, and its figures.

May import: every analysis package below it; nothing imports it but the CLI.
"""
