"""Images per second of ClipEncoder.embed per device, precision and batch size."""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from introdet.features.encoder import ClipEncoder

# bf16 is the fast CPU choice on CPUs with AVX512-BF16/AMX; fp16 is CUDA only
PRECISIONS = {"cpu": ("fp32", "bf16"), "cuda": ("fp16", "bf16")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="ViT-B-32")
    p.add_argument(
        "--pretrained", default=None, help="tag or file; default random weights (same speed)"
    )
    p.add_argument("--device", nargs="+", default=devices, help=f"default: {' '.join(devices)}")
    p.add_argument("--precisions", nargs="+", default=None, help="default: " + str(PRECISIONS))
    p.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    p.add_argument("--repeats", type=int, default=3, help="timed runs per cell; median reported")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--compile", action="store_true", help="torch.compile the vision tower")
    return p.parse_args(argv)


def images_per_second(encoder: ClipEncoder, batch: int, repeats: int) -> float:
    """Median over ``repeats`` timed embeds of one batch, after one warm-up embed."""
    size = encoder.image_size
    frames = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    encoder.batch_size = batch
    encoder.embed(frames)  # warm-up: kernel selection, allocator, compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.embed(frames)  # returns CPU numpy, so CUDA work is finished when it returns
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads", end="")
    print(f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
    print(
        f"{'model':<14}{'device':<8}{'precision':<11}{'batch':>6}{'images/s':>11}{'ms/batch':>10}"
    )
    for device in args.device:
        kind = torch.device(device).type
        for precision in args.precisions or PRECISIONS[kind]:
            encoder = ClipEncoder(
                args.model,
                pretrained=args.pretrained,
                device=device,
                precision=precision,
                channels_last=args.channels_last,
                compile=args.compile,
            )
            for batch in args.batches:
                try:
                    ips = images_per_second(encoder, batch, args.repeats)
                except torch.OutOfMemoryError:
                    print(f"{args.model:<14}{device:<8}{precision:<11}{batch:>6}{'OOM':>11}")
                    torch.cuda.empty_cache()
                    break
                ms = 1000 * batch / ips
                print(
                    f"{args.model:<14}{device:<8}{precision:<11}{batch:>6}{ips:>11.1f}{ms:>10.0f}"
                )
            del encoder
            if kind == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
