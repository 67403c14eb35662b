"""Video files -> CLIP feature shards, resumable: ``python -m introdet.extract input=.. out=..``.

The command only: its settings checked, the report printed; the pipeline is
``introdet.features.extraction``."""

from __future__ import annotations

import logging

from hydra.utils import instantiate
from omegaconf import DictConfig

from introdet.checks import FLAG, NULL, TEXT, check_values, whole
from introdet.cli import command, say
from introdet.config import check_nodes
from introdet.features.extraction import extract
from introdet.features.print_store import PrintScan
from introdet.media.library import VIDEO_SUFFIXES, find_videos, parse_shard

log = logging.getLogger(__name__)


EXTRACT_RULES = {
    "input": TEXT,
    "out": TEXT,
    "series": TEXT | NULL,
    "decoders": whole(1, 64),
    "processes": FLAG,
    "prints": FLAG,
    "progress": FLAG,
}


@command("extract", {"recurring.": "season."})  # the 0.1 name, with a warning
def main(cfg: DictConfig) -> int:
    check_values("", cfg, EXTRACT_RULES)
    # sampler, season: bad values stop here, before the encoder loads
    sampler = check_nodes(cfg)["sampler"]
    parse_shard(cfg.shard)  # a bad shard= stops here too, before the encoder loads
    encoder = instantiate(cfg.encoder)
    summary = extract(
        cfg.input,
        cfg.out,
        encoder,
        sampler,
        cfg.shard,
        cfg.series,
        cfg.decoders,
        cfg.progress,
        processes=cfg.processes,
        prints=PrintScan.of(cfg.season) if cfg.prints else None,
    )
    say(summary.format())
    say(f"shards: {cfg.out} (encoder {encoder.name})")
    if not (summary.done or summary.skipped or summary.failed):
        if cfg.shard and find_videos(cfg.input):  # another job's share holds them all
            say(f"{cfg.input}: shard {cfg.shard} holds none of its videos")
            return 0
        log.warning("%s: no video file found (suffixes: %s)", cfg.input, ", ".join(VIDEO_SUFFIXES))
        return 1
    return 1 if summary.failed else 0


if __name__ == "__main__":
    main()
