"""Train the intro detector: python train.py [experiment=paper_40ep] [run_name=...] [-m ...]."""

from introdet.train import main

if __name__ == "__main__":
    main()
