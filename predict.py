"""Find intros: python predict.py ckpt=PATH input=VIDEO_OR_DIR out=DIR [formats=[json,edl,vtt]]."""

import sys

import hydra
from omegaconf import DictConfig

import introdet.predict


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    sys.exit(introdet.predict.predict(cfg))


if __name__ == "__main__":
    main()
