"""What the player files carry: the EDL action of each segment type (``edl_action=``) and the
segment types a user chose (``segments=``); the JSON record keeps every segment found."""

from __future__ import annotations

import json

import pytest

from introdet.detection.postprocess import Segment
from introdet.errors import ConfigError
from introdet.outputs.edl import edl_actions, to_edl
from introdet.outputs.export import episode_record, render, write_episode
from introdet.outputs.timeline import TYPES, chapters, check_types, for_players

DURATION = 100.0
SPANS = [("recap", 2.0, 8.0), ("intro", 10.0, 40.0), ("commercial", 50.0, 55.0),
         ("credits", 80.0, 92.0), ("preview", 92.0, 98.0)]  # fmt: skip


def typed(spans=SPANS) -> dict:
    segments = [{"type": k, "start": a, "end": b, "confidence": 1.0, "evidence": "test"}
                for k, a, b in spans]  # fmt: skip
    return episode_record("E1", None, DURATION, 1.0, "vit", Segment(10.0, 40.0, 0.9), [],
                          credits=[80.0, 92.0], segments=segments)  # fmt: skip


def lines(text: str) -> list[tuple[float, float, int]]:
    return [(float(a), float(b), int(c)) for a, b, c in (x.split() for x in text.splitlines())]


@pytest.mark.parametrize("setting, action", [(0, 0), (3, 3), ("mplayer", 0), ("kodi", 3)])
def test_one_action_or_a_players_name_for_every_type(setting, action):
    assert edl_actions(setting) == dict.fromkeys(TYPES, action)
    assert {a for _, _, a in lines(to_edl(typed(), setting))} == {action}


def test_an_action_per_type_and_the_default_for_the_others():
    actions = edl_actions({"recap": 0, "commercial": "mplayer"})
    assert actions == {"intro": 3, "credits": 3, "recap": 0, "preview": 3, "commercial": 0}
    assert lines(to_edl(typed(), actions)) == [
        (2.0, 8.0, 0), (10.0, 40.0, 3), (50.0, 55.0, 0), (80.0, 98.0, 3)
    ]  # fmt: skip


def test_touching_segments_of_two_actions_stay_two_lines_that_do_not_overlap():
    spans = [("intro", 10.0, 40.0), ("credits", 80.0, 92.0), ("preview", 90.0, 98.0)]
    got = lines(to_edl(typed(spans), {"preview": 0}))
    assert got == [(10.0, 40.0, 3), (80.0, 92.0, 3), (92.0, 98.0, 0)]
    # of one action they are one line: MPlayer drops a line starting where the one before ends
    assert lines(to_edl(typed(spans), 0))[-1] == (80.0, 98.0, 0)


@pytest.mark.parametrize("bad, says", [
    ({"outro": 3}, "unknown segment type"), ({"intro": 2}, "edl_action.intro"),
    ({"credits": "vlc"}, "edl_action.credits"), ("kodi ", "edl_action"), (1, "edl_action"),
])  # fmt: skip
def test_settings_that_skip_nothing_or_name_no_type_are_refused(bad, says, tmp_path):
    with pytest.raises(ConfigError, match=says):
        edl_actions(bad)
    with pytest.raises(ConfigError, match=says):  # before anything is written
        write_episode(typed(), tmp_path, ["json"], edl_action=bad)
    assert list(tmp_path.iterdir()) == []


def test_chosen_types_reach_the_player_files_and_the_record_keeps_all(tmp_path):
    json_file, edl, meta = write_episode(typed(), tmp_path, ["json", "edl", "ffmetadata"], 0,
                                         types=["intro", "credits"])  # fmt: skip
    assert lines(edl.read_text()) == [(10.0, 40.0, 0), (80.0, 92.0, 0)]
    titles = [t for t in meta.read_text().splitlines() if t.startswith("title=")]
    assert titles == ["title=Episode", "title=Intro", "title=Episode", "title=Credits",
                      "title=Episode"]  # fmt: skip
    kept = json.loads(json_file.read_text())["segments"]
    assert [s["type"] for s in kept] == [k for k, _, _ in SPANS]


def test_no_intro_chosen_leaves_it_out_of_an_older_record_too():
    old = typed()
    del old["segments"]  # schema 2: intro and credits, no typed list
    assert [c[0] for c in chapters(for_players(old, ["credits"]))] == ["Episode", "Credits",
                                                                        "Episode"]  # fmt: skip
    assert render(old, "json", types=["credits"]) == render(old, "json")
    assert for_players(old) is old


def test_unknown_types_are_refused_by_name():
    assert check_types(["credits", "intro", "credits"]) == ("credits", "intro")
    with pytest.raises(ConfigError, match=r"segments: unknown type\(s\) \['outro'\]"):
        check_types(["intro", "outro"])
