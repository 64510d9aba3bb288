"""``python -m hotspot``: the same command as ``hotspot``."""

from cli import main

main()
