"""Train the intro detector: python train.py [experiment=paper_40ep] [run_name=...] [-m ...]."""

import hydra
from omegaconf import DictConfig

import introdet.app


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    return introdet.app.train(cfg)


if __name__ == "__main__":
    main()
