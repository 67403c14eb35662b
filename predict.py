"""Find intros: python predict.py input=VIDEO_OR_FOLDER out=DIR [ckpt=PATH] (--help: every key)."""

from introdet.scripts import predict

if __name__ == "__main__":
    predict()
