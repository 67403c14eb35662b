"""Find intros: python predict.py input=VIDEO_OR_FOLDER out=DIR [ckpt=PATH] (--help: every key)."""

from introdet.predict import main

if __name__ == "__main__":
    main()
