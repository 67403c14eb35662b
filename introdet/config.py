"""Typed config nodes: the dataclasses that hold the defaults, stored in Hydra's ConfigStore.

Each group named here is read from its dataclass (the one source of its defaults); a YAML file
in ``conf/<group>/`` only changes keys. Struct mode makes a mistyped key an error.
"""

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from introdet.detection.postprocess import PostprocessConfig
from introdet.detection.refine import RefineConfig
from introdet.detection.season import SeasonConfig
from introdet.features.coarse import CoarseConfig
from introdet.features.encoder_config import EncoderConfig
from introdet.media.sampling import SamplerConfig

NODES = {
    "sampler": SamplerConfig,
    "postprocess": PostprocessConfig,
    "refine": RefineConfig,
    "coarse": CoarseConfig,
    "season": SeasonConfig,
}


def check_nodes(cfg: DictConfig) -> dict[str, object]:
    """Build each typed node the command has: its dataclass checks every value (one line
    naming the first bad key), before any work starts. Returns the nodes by group."""
    return {group: OmegaConf.to_object(cfg[group]) for group in NODES if group in cfg}


store = ConfigStore.instance()
for group, node in NODES.items():
    store.store(group=group, name="default", node=node)
# conf/encoder/*.yaml extend it (defaults: [/encoder_base, _self_]); kept out of the encoder
# group, so that encoder= offers only real encoders
store.store(name="encoder_base", node=EncoderConfig)
