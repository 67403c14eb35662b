"""Kodi/MPlayer EDL: one ``start end action`` line per found segment, the action chosen per
segment type (``edl_action=`` of predict).

Action 3 (``EDL_COMMERCIAL``, the default) is Kodi's commercial break: Kodi skips it once and
the viewer can seek back into it; MPlayer ignores it. Action 0 (``EDL_CUT``) is what MPlayer
skips; Kodi then removes the segment from the timeline altogether. mpv reads no MPlayer EDL.
"""

from __future__ import annotations

from collections.abc import Mapping

from introdet.errors import ConfigError
from introdet.outputs.timeline import TYPE_OF, TYPES, playable_segments

EDL_CUT = 0  # MPlayer skips it; Kodi cuts it out of the timeline
EDL_COMMERCIAL = 3  # Kodi skips it once and lets the viewer seek back; MPlayer ignores it
EDL_ACTION = EDL_COMMERCIAL
# 1 (mute) and 2 (scene marker) would play the segment: a type not to skip is left out of
# the player files instead (segments=)
EDL_ACTIONS = (EDL_CUT, EDL_COMMERCIAL)
# the players' names for the two: edl_action=kodi or edl_action=mplayer
PRESETS = {"kodi": EDL_COMMERCIAL, "mplayer": EDL_CUT}


def edl_actions(setting=EDL_ACTION) -> dict[str, int]:
    """Each segment type's action: ``setting`` is one action for all (0, 3, ``kodi`` or
    ``mplayer``) or a mapping of type to action (``{preview: 0}``; a type not named gets
    ``EDL_ACTION``); ConfigError for anything else."""
    if isinstance(setting, Mapping):
        unknown = sorted(str(k) for k in setting if k not in TYPES)
        if unknown:
            raise ConfigError(f"edl_action: unknown segment type(s) {unknown}; known: "
                              f"{', '.join(TYPES)}")  # fmt: skip
        return {kind: _action(setting.get(kind, EDL_ACTION), kind) for kind in TYPES}
    action = _action(setting, None)
    return dict.fromkeys(TYPES, action)


def _action(value, kind: str | None) -> int:
    # an int, not 0.0 or False: players parse the field as an integer
    if isinstance(value, str) and value in PRESETS:
        return PRESETS[value]
    if isinstance(value, bool) or not isinstance(value, int) or value not in EDL_ACTIONS:
        key = f"edl_action.{kind}" if kind else "edl_action"
        raise ConfigError(
            f"{key} must be {EDL_CUT} or mplayer (MPlayer skips, Kodi cuts) or "
            f"{EDL_COMMERCIAL} or kodi (Kodi's commercial break), got {value!r}"
        )
    return value


def check_edl_action(setting):
    """``setting`` if ``edl_actions`` takes it; ConfigError otherwise."""
    edl_actions(setting)
    return setting


def to_edl(record: dict, action=EDL_ACTION) -> str:
    """``start end action`` for each segment as ``playable_segments`` clips it, in order of
    time, with its type's action (``edl_actions``). Segments of one action that touch or
    overlap are one line (MPlayer drops a line that starts where the one before ends: the
    credits and the preview after them); one of another action starts where the line before
    it ends. Empty if none."""
    actions = edl_actions(action)
    lines: list[list[int]] = []
    for title, a, b in sorted(playable_segments(record), key=lambda s: s[1]):
        act = actions[TYPE_OF[title]]
        if lines and a <= lines[-1][1] and act == lines[-1][2]:
            lines[-1][1] = max(lines[-1][1], b)
        elif not lines or b > lines[-1][1]:
            lines.append([max(a, lines[-1][1]) if lines else a, b, act])
    return "".join(f"{a / 1000:.3f} {b / 1000:.3f} {act}\n" for a, b, act in lines)
