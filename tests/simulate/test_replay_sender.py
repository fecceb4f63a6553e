"""The replay's sender against the real intake app: right token per kind, stops on a 4xx."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from racecramp.simulate import replay

T0 = datetime(2017, 4, 17, 15, 0, tzinfo=UTC)


def test_each_kind_goes_with_its_principal_and_lands(client, intake_settings, kit):
    tokens = {p: t for p, t in kit.TOKENS.items()}
    sender = replay.IntakeSender("http://testserver", tokens, client=client)
    events = [
        (T0, "participants", {"race_id": kit.RACE_ID, "bib": "101", "simulated": True}),
        (T0, "passings", {"race_id": kit.RACE_ID, "bib": "101", "point_id": "mat-10k", "km": 10.0, "net_time_s": 3000.0,
                          "passed_at_utc": "2017-04-17T15:00:00Z", "simulated": True}),
        (T0, "reports", {**kit.report("aid-05mi"), "simulated": True}),
        (T0, "reports", {**kit.report("aid-06mi"), "simulated": True}),
    ]
    sender.check_tokens(events)
    sender.send(events)
    assert dict(sender.sent) == {"participants": 1, "passings": 1, "reports": 2}
    assert {p.parent.name for p in kit.landed(intake_settings.landing_dir)} == {"participants", "passings", "reports"}


def test_a_missing_station_token_is_named_before_anything_is_sent(client, kit):
    sender = replay.IntakeSender("http://testserver", {"feed:timing:boston-2017": "x"}, client=client)
    with pytest.raises(replay.ReplayError, match="no token for station:boston-2017:aid-05mi"):
        sender.check_tokens([(T0, "reports", kit.report("aid-05mi"))])


def test_a_rejected_record_stops_the_replay_with_the_intakes_answer(client, intake_settings, kit):
    sender = replay.IntakeSender("http://testserver", dict(kit.TOKENS), client=client)
    bad = {"race_id": kit.RACE_ID, "bib": "1", "point_id": "mat-99k", "net_time_s": 10.0}
    with pytest.raises(replay.ReplayError, match=r"passings as feed:timing:boston-2017: intake answered 422.*point_id"):
        sender.send([(T0, "passings", bad)])
    assert kit.landed(intake_settings.landing_dir) == []
