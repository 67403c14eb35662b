"""Training: labels, windows over feature shards, the model and its LightningModule."""
