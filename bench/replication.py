"""Benchmark of the data mover against the lab's blob storage, with baselines measured in the same run.

    python bench/replication.py [--size 1GiB] [--rss-sizes 1GiB,8GiB] [--account vmshiftcache01]

Reads the blob endpoint and key as the product does (VMSHIFT_BLOB_ENDPOINT, VMSHIFT_STORAGE_KEY_<ACCOUNT>,
VMSHIFT_CA_FILE), taking them from the lab ($VMSHIFT_LAB_DIR/lab.json, default ./.lab) when unset.
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.storage.blob import ContainerClient

from vmshift.replication.extents import MAX_PAGE_WRITE, MIB, DiskExtent, plan_writes, total_bytes
from vmshift.replication.mover import MoverSettings, move
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.reader import LocalDiskReader
from vmshift.replication.storage import blob_service_client

GIB = 1024 * MIB
TARGETS = {
    "dense_vs_upload_blob": (">=", 1.0),
    "dense_vs_ceiling": (">=", 0.8),
    "sparse_time_vs_upload_blob": ("<=", 1.0),
    "sparse_bytes_vs_allocated": ("<=", 1.02),
    "delta_bytes_vs_changed": ("<=", 1.05),
    "delta_time_vs_full_upload": ("<=", 0.05),
    "rss_8g_vs_1g": ("<=", 1.1),
}


def parse_size(text: str) -> int:
    units = {"KIB": 1024, "MIB": MIB, "GIB": GIB, "K": 1024, "M": MIB, "G": GIB}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def use_lab_when_unconfigured(account: str) -> None:
    if os.environ.get("VMSHIFT_BLOB_ENDPOINT"):
        return
    from vmshift.lab import launcher  # only when the environment does not say where the storage is

    lab_file = launcher.lab_dir() / "lab.json"
    if not lab_file.exists():
        sys.exit(f"no VMSHIFT_BLOB_ENDPOINT and no lab at {lab_file}: run `vmshift lab up` or source lab.env")
    os.environ.update(launcher.lab_env(json.loads(lab_file.read_text())))


def timed(work: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def write_dense(path: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "wb") as f:
        for _ in range(0, size, 64 * MIB):
            f.write(rng.randbytes(min(64 * MIB, size - f.tell())))


def write_scattered(path: Path, size: int, fraction: float, seed: int) -> list[DiskExtent]:
    """A sparse image with `fraction` of it allocated in scattered extents of 64 KiB to 2 MiB."""
    rng = random.Random(seed)
    extents: list[DiskExtent] = []
    with open(path, "wb") as f:
        f.truncate(size)
        slots = size // (2 * MIB)
        for slot in sorted(rng.sample(range(slots), int(slots * fraction * 2))):
            length = rng.choice((64 * 1024, 256 * 1024, MIB, 2 * MIB))
            offset = slot * 2 * MIB + rng.randrange(0, 2 * MIB - length + 1, 4096)
            f.seek(offset)
            f.write(rng.randbytes(length))
            extents.append(DiskExtent(offset, length))
    return extents


def churn(path: Path, size: int, fraction: float, seed: int) -> list[DiskExtent]:
    """Random guest writes of 4 KiB to 256 KiB over `fraction` of the disk: what CBT would report."""
    rng = random.Random(seed)
    written, changed = 0, []
    with open(path, "r+b") as f:
        while written < size * fraction:
            length = rng.choice((4096, 16384, 65536, 262144))
            offset = rng.randrange(0, size - length, 512)
            f.seek(offset)
            f.write(rng.randbytes(length))
            changed.append(DiskExtent(offset, length))
            written += length
    return changed


def upload_blob_baseline(container: ContainerClient, image: Path) -> float:
    """The manual path: the SDK's own page blob upload of the local file (it skips all-zero pages)."""
    blob = container.get_blob_client(f"baseline-{uuid.uuid4().hex}")
    with open(image, "rb") as data:
        seconds, _ = timed(lambda: blob.upload_blob(data, blob_type="PageBlob", max_concurrency=8))
    blob.delete_blob()
    return seconds


def ceiling(container: ContainerClient, size: int, concurrency: int) -> float:
    """Raw 4 MiB Put Page from memory: what Azurite takes at most. Returns MB/s."""
    blob = container.get_blob_client(f"ceiling-{uuid.uuid4().hex}")
    blob.create_page_blob(size)
    payload = random.Random(7).randbytes(MAX_PAGE_WRITE)
    offsets = range(0, size, MAX_PAGE_WRITE)
    with ThreadPoolExecutor(concurrency) as pool:
        seconds, _ = timed(
            lambda: list(pool.map(lambda o: blob.upload_page(payload, offset=o, length=MAX_PAGE_WRITE), offsets))
        )
    blob.delete_blob()
    return size / seconds / 1e6


def vmshift_copy(
    container: ContainerClient,
    image: Path,
    areas: list[DiskExtent] | None,
    settings: MoverSettings,
    replica: PageBlobReplica | None = None,
    skip_zero: bool = True,
) -> tuple[float, int, PageBlobReplica]:
    with LocalDiskReader(image) as reader:
        if replica is None:
            replica = PageBlobReplica(container, f"vmshift-{uuid.uuid4().hex}.vhd", owner="bench")
            replica.ensure(reader.size)
        plan = plan_writes(areas if areas is not None else reader.allocated_areas(), reader.size, settings.chunk_size)
        seconds, result = timed(lambda: move(reader, replica, plan, settings, skip_zero=skip_zero))
    return seconds, result.bytes_sent, replica


def rss_child(size: int, account: str, container_name: str, concurrency: int) -> None:
    """Replicate a sparse disk of `size` in this process and print its peak RSS in bytes."""
    container = blob_service_client(account).get_container_client(container_name)
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "sparse.raw"
        with open(image, "wb") as f:
            f.truncate(size)
            for offset in range(0, size, 256 * MIB):  # a little data everywhere, holes between
                f.seek(offset)
                f.write(random.Random(offset).randbytes(MIB))
        _, _, replica = vmshift_copy(container, image, [DiskExtent(0, size)], MoverSettings(concurrency))
        replica.blob.delete_blob()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def peak_rss(size: int, account: str, container_name: str, concurrency: int) -> int:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--rss-child",
            str(size),
            "--account",
            account,
            "--container",
            container_name,
            "--concurrency",
            str(concurrency),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1GiB", help="dense and sparse disk size (default 1GiB)")
    parser.add_argument("--rss-sizes", default="1GiB,8GiB", help="two sparse disk sizes for peak RSS")
    parser.add_argument("--account", default="vmshiftcache01")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ceiling-concurrency", default="2,4,8,16")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds of the dense copies (best kept)")
    parser.add_argument("--container", help=argparse.SUPPRESS)
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_lab_when_unconfigured(args.account)
    if args.rss_child:
        rss_child(args.rss_child, args.account, args.container, args.concurrency)
        return

    size = parse_size(args.size)
    settings = MoverSettings(concurrency=args.concurrency)
    service = blob_service_client(args.account)
    container = service.create_container(f"bench-{uuid.uuid4().hex[:12]}")
    rows: list[tuple[str, float, int]] = []
    figures: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            dense, sparse = Path(folder) / "dense.raw", Path(folder) / "sparse.raw"
            write_dense(dense, size, seed=1)
            # Alternated rounds, best of each: the machine is shared, so one slow moment should not pick a side.
            baseline_dense = dense_s = float("inf")
            replica = None
            for _ in range(args.rounds):
                baseline_dense = min(baseline_dense, upload_blob_baseline(container, dense))
                if replica is not None:
                    replica.blob.delete_blob()
                seconds, dense_sent, replica = vmshift_copy(container, dense, [DiskExtent(0, size)], settings)
                dense_s = min(dense_s, seconds)
            rows.append(("A upload_blob, dense", baseline_dense, size))
            best = max(
                (ceiling(container, min(size, 256 * MIB), int(c)), int(c)) for c in args.ceiling_concurrency.split(",")
            )
            ceiling_bytes = min(size, 256 * MIB)
            rows.append(
                (f"B 4 MiB upload_page ceiling (concurrency {best[1]})", ceiling_bytes / best[0] / 1e6, ceiling_bytes)
            )
            rows.append(("vmshift initial, dense", dense_s, dense_sent))

            changed = churn(dense, size, 0.01, seed=3)
            delta_s, delta_sent, _ = vmshift_copy(container, dense, changed, settings, replica, skip_zero=False)
            rows.append(("vmshift delta, 1% churn", delta_s, delta_sent))
            replica.blob.delete_blob()
            dense.unlink()

            allocated = total_bytes(write_scattered(sparse, size, 0.10, seed=2))
            baseline_sparse = upload_blob_baseline(container, sparse)
            rows.append(("A upload_blob, 10% allocated", baseline_sparse, allocated))
            sparse_s, sparse_sent, replica = vmshift_copy(container, sparse, None, settings)
            rows.append(("vmshift initial, 10% allocated", sparse_s, sparse_sent))
            replica.blob.delete_blob()

        rss_small, rss_large = (
            peak_rss(parse_size(s), args.account, container.container_name, args.concurrency)
            for s in args.rss_sizes.split(",")
        )
        cbt_changed = total_bytes(plan_writes(changed, size, MIB))  # CBT reports whole 512-byte sectors
        figures = {
            "dense_vs_upload_blob": baseline_dense / dense_s,
            "dense_vs_ceiling": (size / dense_s / 1e6) / best[0],
            "sparse_time_vs_upload_blob": sparse_s / baseline_sparse,
            "sparse_bytes_vs_allocated": sparse_sent / allocated,
            "delta_bytes_vs_changed": delta_sent / cbt_changed,
            "delta_time_vs_full_upload": delta_s / dense_s,
            "rss_8g_vs_1g": rss_large / rss_small,
        }
    finally:
        container.delete_container()

    print(f"{'measure':48} {'seconds':>8} {'MB':>9} {'MB/s':>7}")
    for name, seconds, nbytes in rows:
        print(f"{name:48} {seconds:8.2f} {nbytes / 1e6:9.1f} {nbytes / seconds / 1e6:7.1f}")
    print(
        f"peak RSS: {rss_small / 1e6:.0f} MB ({args.rss_sizes.split(',')[0]}), "
        f"{rss_large / 1e6:.0f} MB ({args.rss_sizes.split(',')[1]})"
    )
    for key, value in figures.items():
        op, target = TARGETS[key]
        met = value >= target if op == ">=" else value <= target
        print(f"{key:30} {value:8.3f}  target {op} {target}  {'met' if met else 'MISSED'}")
    print(
        json.dumps(
            {
                **{k: round(v, 4) for k, v in figures.items()},
                "size_bytes": size,
                "concurrency": args.concurrency,
                "ceiling_mb_s": round(best[0], 1),
                "ceiling_concurrency": best[1],
                "vmshift_dense_mb_s": round(size / dense_s / 1e6, 1),
                "upload_blob_dense_mb_s": round(size / baseline_dense / 1e6, 1),
                "rss_small_bytes": rss_small,
                "rss_large_bytes": rss_large,
            }
        )
    )


if __name__ == "__main__":
    main()
