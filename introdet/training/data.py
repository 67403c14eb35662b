"""Feature shards + annotations -> windows of [60, 512] for training and evaluation.

Two ways to make sequences (``mode``):

- ``balanced`` (the paper's protocol, reproduced exactly): per episode the intro's seconds
  followed by as many seconds of film right after the intro; every episode's pair
  concatenated into one long sequence; windows of ``window`` at ``stride`` over it
  (2068 seconds -> 402 windows at 60/5). The same for every split.
- ``episodes`` (realistic): windows over each episode's scanned part (its first
  ``max_seconds``), never crossing an episode; the tail window is padded and the padding
  masked (label -1) out of loss and metrics. Training windows start every ``stride``
  seconds from a random offset; evaluation tiles each episode with ``stride == window``
  so every second is scored exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TypedDict

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from introdet.checks import FLAG, NULL, TEXT, check_values, number, one_of, whole
from introdet.detection.channels import (
    Rows,
    appended,
    extra_channels,
    recurrence_kind,
    season_evidence,
)
from introdet.detection.recurrence import add_season_channels
from introdet.detection.scoring import group_by_series
from introdet.detection.season import SeasonConfig
from introdet.detection.windows import tile_starts, window_starts
from introdet.errors import AnnotationError, ConfigError
from introdet.features.print_store import PrintScan, resound_of, shard_prints
from introdet.features.shards import ShardMeta, check_consistent, load_features, read_manifest
from introdet.features.sources import regroup
from introdet.media.labels import (
    Intro,
    group_series,
    labels_for,
    load_annotations,
    overlapping,
    split_episodes,
)
from introdet.training.resume import EpochOrder, position

log = logging.getLogger(__name__)


class Window(TypedDict):
    """One window as the dataset gives it; the default collate stacks B of them into the
    batch the model steps on (``feats`` [B, W, F], ``episode`` a list of B names...)."""

    feats: torch.Tensor  # [W, F] float32
    labels: torch.Tensor  # [W] int64: 1 intro, 0 other, -1 padding
    mask: torch.Tensor  # [W] bool, True = a real second
    episode: str
    start: torch.Tensor  # int64: row of the episode (or sequence) where the window starts


@dataclass
class Track:
    """One sequence that windows are cut from: an episode, or the balanced concatenation."""

    name: str
    feats: np.ndarray  # [T, F] float16
    labels: np.ndarray  # [T] int64


def balanced_track(tracks: Sequence[Track], intros: Mapping[str, Intro]) -> Track:
    """The paper's sequence: per episode, intro seconds then as many seconds after the intro."""
    feats, labels = [], []
    for t in tracks:
        idx = np.flatnonzero(t.labels == 1)
        if idx.size == 0:
            continue  # no intro: nothing to balance against
        a, b = int(idx[0]), int(idx[-1]) + 1
        n = b - a
        feats.append(t.feats[a : min(b + n, len(t.feats))])
        labels.append(t.labels[a : min(b + n, len(t.labels))])
    if not feats:
        raise ValueError("balanced mode: no episode with an intro")
    return Track("balanced", np.concatenate(feats), np.concatenate(labels))


class WindowDataset(Dataset):
    """Fixed-length windows over tracks, padded and masked at the end of a track."""

    def __init__(
        self,
        tracks: Sequence[Track],
        window: int,
        stride: int,
        tile: bool = False,
        random_offset: bool = False,
    ) -> None:
        self.tracks, self.window, self.stride = list(tracks), window, stride
        self.random_offset = random_offset and not tile
        self.index: list[tuple[int, int]] = []  # (track, start)
        for i, t in enumerate(self.tracks):
            starts = (
                tile_starts(len(t.labels), window, window)
                if tile
                else window_starts(len(t.labels), window, stride)
            )
            self.index += [(i, s) for s in starts]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: int | tuple[int, int]) -> Window:
        # training keys come from EpochOrder as (index, draw); the draw picks the offset
        i, draw = key if isinstance(key, tuple) else (key, None)
        ti, start = self.index[i]
        t = self.tracks[ti]
        T, W = len(t.labels), self.window
        if self.random_offset and T > W:
            # a fresh shift every time the window is drawn: the model sees intros at every
            # position across epochs, not only at multiples of the stride
            shift = np.random.randint(self.stride) if draw is None else draw % self.stride
            start = min(start + int(shift), T - W)
        n = min(W, T - start)
        feats = np.zeros((W, t.feats.shape[1]), dtype=np.float32)
        feats[:n] = t.feats[start : start + n]
        labels = np.full(W, -1, dtype=np.int64)
        labels[:n] = t.labels[start : start + n]
        return Window(
            feats=torch.from_numpy(feats),
            labels=torch.from_numpy(labels),
            mask=torch.from_numpy(labels >= 0),
            episode=t.name,
            start=torch.tensor(start, dtype=torch.int64),
        )


DATA_RULES = {
    "window": whole(1),
    "stride": whole(1),
    "batch_size": whole(1),
    "num_workers": whole(0, 256),
    "fps": number(0, 120, lo_open=True),
    "feature_dim": whole(1),
    "max_others": whole(1),
    "max_seconds": number(0, 86400, lo_open=True) | NULL,
    "val_fraction": number(0, 1, hi_open=True),
    "test_fraction": number(0, 1, hi_open=True),
    "mode": one_of("balanced", "episodes"),
    "split_by": one_of("series", "episode"),
    "split_seed": whole(),
    "random_offset": FLAG,
    "seed": whole(),
    "shard_dir": TEXT,
    "train_labels": TEXT,
    "val_labels": TEXT | NULL,
    "test_labels": TEXT | NULL,
}


def check_data(hp: Mapping) -> None:
    """Every ``data.*`` value that cannot work stops the run here, naming the key and range."""
    check_values("data", hp, DATA_RULES)
    if hp["val_fraction"] + hp["test_fraction"] >= 1:
        raise ConfigError(
            "data.val_fraction + data.test_fraction must be < 1 (nothing left to train on), "
            f"got {hp['val_fraction']} + {hp['test_fraction']}"
        )
    recurrence_kind(hp["recurrence"])


class IntroDataModule(L.LightningDataModule):
    """Windows of CLIP features with per-second intro labels, from shards + labels files.

    Splits: ``test_labels`` (and ``val_labels``) files when given; what is missing is split
    off ``train_labels`` by series (default; one intro recurs across a series) or episode.
    """

    def __init__(
        self,
        shard_dir: str,
        train_labels: str,
        val_labels: str | None = None,
        test_labels: str | None = None,
        mode: str = "episodes",
        split_by: str = "series",
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 0,
        window: int = 60,
        stride: int = 5,
        random_offset: bool = True,
        max_seconds: float | None = 900,
        batch_size: int = 8,
        num_workers: int = 0,
        feature_dim: int = 512,
        fps: float = 1.0,
        recurrence: str | bool = "off",
        max_others: int = 8,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_data(locals())
        self.save_hyperparameters()
        self.hparams.recurrence = recurrence_kind(recurrence)
        self.tracks: dict[str, list[Track]] = {}
        self.encoder: dict | None = None
        self.episode_sets: dict[str, list[str]] = {}
        self.intros: dict[str, dict[str, Intro]] = {}  # split -> episode -> annotation
        self._season: dict[str, np.ndarray] | None = None  # episode -> season channels
        self._resume: dict[str, int] | None = None  # where a resumed run's training goes on

    # --- building ------------------------------------------------------------------------

    def prepare_encoder(self) -> dict:
        """Encoder identity shared by all shards; fails on mixed encoders or wrong dims."""
        hp = self.hparams
        metas = read_manifest(hp.shard_dir)
        self.encoder = check_consistent(
            metas.values(), embed_dim=hp.feature_dim, fps=hp.fps, where=str(hp.shard_dir)
        )
        return self.encoder

    def _splits(self, metas: Mapping[str, ShardMeta]) -> dict[str, dict[str, Intro]]:
        hp = self.hparams
        durations = {e: m.start + m.n_seconds / m.fps for e, m in metas.items()}

        def load(path: str) -> dict[str, Intro]:
            ann = load_annotations(path, durations=durations)
            for line in ann.report:
                log.warning(line)
            missing = sorted(set(ann.intros) - set(metas))
            if missing:
                log.warning(
                    "%s: %d labelled episodes have no feature shard in %s and are skipped: %s",
                    path,
                    len(missing),
                    hp.shard_dir,
                    ", ".join(missing[:10]),
                )
            return {e: i for e, i in ann.intros.items() if e in metas}

        train = load(hp.train_labels)
        val = load(hp.val_labels) if hp.val_labels else None
        test = load(hp.test_labels) if hp.test_labels else None
        fractions = {
            "val": hp.val_fraction if val is None else 0.0,
            "test": hp.test_fraction if test is None else 0.0,
        }
        parts = split_episodes(
            train, hp.split_by, fractions["val"], fractions["test"], hp.split_seed
        )
        out = {"train": {e: train[e] for e in parts["train"]}}
        out["val"] = val if val is not None else {e: train[e] for e in parts["val"]}
        out["test"] = test if test is not None else {e: train[e] for e in parts["test"]}
        for ep, names in overlapping({k: list(v) for k, v in out.items()}).items():
            log.warning("episode %s is in several splits: %s", ep, ", ".join(names))
        return out

    def _tracks(self, intros: Mapping[str, Intro], metas: Mapping[str, ShardMeta]) -> list[Track]:
        hp = self.hparams
        tracks = []
        for ep in sorted(intros):
            m = metas[ep]
            feats = load_features(hp.shard_dir, ep)
            if hp.max_seconds is not None:
                feats = feats[: int(hp.max_seconds * m.fps)]
            interval = intros[ep].interval
            if interval is not None:  # rows start at m.start seconds into the video
                interval = (interval[0] - m.start, interval[1] - m.start)
            tracks.append(
                Track(
                    ep, np.asarray(feats, dtype=np.float16), labels_for(len(feats), interval, m.fps)
                )
            )
        if hp.recurrence != "off":
            tracks = self._add_recurrence(tracks, intros, metas)
        return tracks

    def _add_recurrence(
        self, tracks: list[Track], intros: Mapping[str, Intro], metas: Mapping[str, ShardMeta]
    ) -> list[Track]:
        hp = self.hparams
        by_name = {t.name: t for t in tracks}
        out = {}
        if hp.recurrence == "season":
            season = self._season_channels(metas)
            for t in tracks:
                out[t.name] = Track(t.name, *appended([t.feats], [season[t.name]]), t.labels)
            return [out[t.name] for t in tracks]
        # within a split only: the features of an episode never look at another split
        for eps in group_series(intros).values():
            group = [by_name[e] for e in eps]
            feats = add_season_channels([t.feats for t in group], hp.max_others)
            for t, f in zip(group, feats, strict=True):
                out[t.name] = Track(t.name, f, t.labels)
        return [out[t.name] for t in tracks]

    def _season_channels(self, metas: Mapping[str, ShardMeta]) -> dict[str, np.ndarray]:
        """Season channels of every episode with a shard, from the prints stored there. A
        series' episodes are compared whatever their split: no label is read, and a season's
        sound is all there at prediction time too."""
        if self._season is not None:
            return self._season
        hp = self.hparams
        metas = regroup({e: replace(m) for e, m in metas.items()}, None, None)
        names = sorted(metas)
        cfg = self.season_config()
        self._season = {}
        for idx in group_by_series([metas[e].series for e in names], names).values():
            group = [metas[names[i]] for i in idx]
            prints, picture_of = shard_prints(hp.shard_dir, group)
            rows = [Rows(m.start, m.fps, m.n_seconds) for m in group]
            resound = resound_of([m.source for m in group], [PrintScan.of(cfg)] * len(group))
            found = season_evidence(prints, picture_of, rows, cfg, resound).channels
            n_rows = [None if hp.max_seconds is None else int(hp.max_seconds * m.fps)
                      for m in group]  # fmt: skip
            self._season |= {m.episode: x[:n] for m, x, n in zip(group, found, n_rows, strict=True)}
        return self._season

    def season_config(self) -> SeasonConfig:
        """How the season channels are computed: saved with the model (its ``season``
        hyper-parameter), so that prediction computes them the same way."""
        return SeasonConfig(max_others=self.hparams.max_others)

    def season_settings(self) -> dict | None:
        """``season_config`` as plain values for the model, when it takes season channels."""
        return asdict(self.season_config()) if self.hparams.recurrence == "season" else None

    def setup(self, stage: str | None = None) -> None:
        if self.tracks:
            return
        hp = self.hparams
        metas = read_manifest(hp.shard_dir)
        self.prepare_encoder()
        for name, intros in self._splits(metas).items():
            self.episode_sets[name] = sorted(intros)
            self.intros[name] = dict(intros)
            if not intros:
                self.tracks[name] = []
                continue
            tracks = self._tracks(intros, metas)
            if hp.mode == "balanced":
                tracks = [balanced_track(tracks, intros)]
            self.tracks[name] = tracks
        if not self.tracks["train"] and stage in (None, "fit"):
            raise AnnotationError(
                f"{hp.train_labels}: no training episode left (each row was rejected, or "
                f"has no feature shard in {hp.shard_dir})"
            )

    @property
    def input_dim(self) -> int:
        return self.hparams.feature_dim + extra_channels(self.hparams.recurrence)

    # --- loaders -------------------------------------------------------------------------

    def dataset(self, split: str) -> WindowDataset:
        hp = self.hparams
        train = split == "train"
        if hp.mode == "balanced":  # the paper's windows, the same in every split
            return WindowDataset(self.tracks[split], hp.window, hp.stride)
        return WindowDataset(
            self.tracks[split],
            hp.window,
            hp.stride,
            tile=not train,
            random_offset=train and hp.random_offset,
        )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        hp = self.hparams
        dataset = self.dataset(split)
        order = None
        if shuffle:  # the epoch's order from the seed alone, and where a resumed run goes on
            order = EpochOrder(len(dataset), hp.seed)
            if self._resume is not None:
                at, self._resume = self._resume, None
                order.resume(at["epoch"], at["batches"] * hp.batch_size)
        return DataLoader(
            dataset,
            batch_size=hp.batch_size,
            sampler=order,
            num_workers=hp.num_workers,
            persistent_workers=hp.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            # its own generator: making an iterator draws no number from torch's global one
            generator=torch.Generator().manual_seed(hp.seed),
        )

    # Lightning keeps this in checkpoints and hands it back on resume, before any loader is made
    def state_dict(self) -> dict:
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return {}
        return {"position": position(trainer)}

    def load_state_dict(self, state: dict) -> None:
        self._resume = state.get("position")

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        if not self.tracks.get("val"):
            log.warning("no validation episodes: validating on the training set")
            return self._loader("train", shuffle=False)
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        if not self.tracks.get("test"):
            raise ValueError("no test episodes: give data.test_labels or a test_fraction > 0")
        return self._loader("test", shuffle=False)
