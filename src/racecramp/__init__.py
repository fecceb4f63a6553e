"""racecramp: exercise-associated muscle cramp monitoring for marathon medical teams.

The package follows the data path: sources -> intake -> landing -> validation -> warehouse ->
marts -> publish -> views + dashboard, report; orchestration and cli wire them (docs/architecture.md).
"""
