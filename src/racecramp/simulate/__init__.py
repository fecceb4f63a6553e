"""Race replay support: the documented cramp model and deterministic simulated events.

docs/simulator.md describes every parameter, its value and its source.
"""

from racecramp.simulate.cramp_model import CrampModelParams, planted_rate_ratios
from racecramp.simulate.declared import DeclaredFinishParams, synthesise_declared_finish
from racecramp.simulate.stream import SimulatedRace, event_stream, simulate_race, stream_digest

__all__ = [
    "CrampModelParams",
    "DeclaredFinishParams",
    "SimulatedRace",
    "event_stream",
    "planted_rate_ratios",
    "simulate_race",
    "stream_digest",
    "synthesise_declared_finish",
]
