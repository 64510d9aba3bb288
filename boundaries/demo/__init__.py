"""The embedded demo town "Demoton" and its scenarios, each with an exactly known crime model.

- :mod:`boundaries.demo.town.town`: the town, its LSOAs, features and records; ``write_demo``.
- :mod:`boundaries.demo.town.streets`: its street layout.
- :mod:`boundaries.demo.town.spacetime`: planted trends and near-repeat chains.
- :mod:`boundaries.demo.town.network`: planted hot segments and an unlit-street effect.

May import: any layer of :mod:`hotspot` (it builds inputs the way a user would); only the CLI and
tests import it.
"""

from __future__ import annotations

SCENARIOS = ("town", "spacetime", "network")


def demo_scenario(scenario: str = "town"):
    """The demo scenario named ``scenario`` (``town`` or ``spacetime``), built once per process."""
    if scenario == "spacetime":
        from boundaries.demo.spacetime import spacetime_demo

        return spacetime_demo()
    if scenario == "town":
        from boundaries.demo.town import demo_town

        return demo_town()
    raise ValueError(f"unknown demo scenario {scenario!r}; choose town or spacetime")


def demo_study(scenario: str = "town", **options):
    """A :class:`hotspot.ingest.study.Study` of a demo scenario; ``options`` as for ``load_study`` (filters, crs)."""
    from hotspot.ingest.study import load_study

    return load_study([], demo=demo_scenario(scenario), **options)
