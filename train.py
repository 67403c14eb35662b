"""Train the intro detector: python train.py [experiment=paper_40ep] [run_name=...] [-m ...]."""

from introdet.scripts import train

if __name__ == "__main__":
    train()
