"""Benchmark of the data mover against the lab's blob storage, with baselines measured in the same run.

    python bench/replication.py [--size 1GiB] [--rss-sizes 1GiB,8GiB] [--account vmshiftcache01] [--vm bench-repl-01]

Needs a lab (`vmshift lab up`; $VMSHIFT_LAB_DIR/lab.json, default ./.lab): the mover's own figures copy local
images, the product-path rows run `replicate_once` on the lab VM --vm (1 GiB disk in the default spec), read
through vcsim's datastore access, with deltas measured through the lab's CBT after guest writes. Reaches blob
storage and vCenter as the product does (VMSHIFT_BLOB_ENDPOINT, VMSHIFT_STORAGE_KEY_<ACCOUNT>, VMSHIFT_VCENTER_*,
VMSHIFT_CA_FILE), taking what is unset from the lab. Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.storage.blob import BlobServiceClient, ContainerClient

from vmshift.replication.digests import to_chunks
from vmshift.replication.extents import MAX_PAGE_WRITE, MIB, DiskExtent, split, total_bytes
from vmshift.replication.manifest import Manifest
from vmshift.replication.mover import MoverSettings, move
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.reader import LocalDiskReader
from vmshift.replication.storage import blob_service_client

GIB = 1024 * MIB
CBT_BLOCK = 64 * 1024  # the lab's Changed Block Tracking granularity (vcsim extension, disk.go BlockSize)
TARGETS = {
    "dense_vs_upload_blob": (">=", 1.0),
    "dense_digests_vs_none": (">=", 0.9),
    "product_dense_vs_upload_blob": (">=", 1.0),
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


def lab_with_its_environment() -> dict:
    """The running lab's lab.json; what the environment does not set yet is taken from it, as lab.env would."""
    from vmshift.lab import launcher  # not in the peak-RSS child, which measures the mover alone

    lab_file = launcher.lab_dir() / "lab.json"
    if not lab_file.exists():
        sys.exit(f"no lab at {lab_file}: run `vmshift lab up` (or set VMSHIFT_LAB_DIR to a running lab's folder)")
    lab = json.loads(lab_file.read_text())
    for name, value in launcher.lab_env(lab).items():
        os.environ.setdefault(name, value)
    return lab


def client_cpu_s() -> float:
    """CPU seconds of this process, all its threads: what the client side of a copy costs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
    digests: bool = True,
) -> tuple[float, int, PageBlobReplica]:
    """The mover alone, as the initial copy of a local image: no vCenter, no checkpoints; with `digests`, as the
    product runs it, each chunk digested as it is read and the manifest written (its last batch inside the time)."""
    with LocalDiskReader(image) as reader:
        name = f"vmshift-{uuid.uuid4().hex}"
        replica = PageBlobReplica(container, f"{name}.vhd", owner="bench")
        replica.ensure(reader.size)
        manifest = Manifest(container, f"{name}.manifest", owner="bench")
        manifest.start_over(reader.size)
        writer = manifest.writer(reader.size, fresh=True) if digests else None
        plan = split(to_chunks(areas if areas is not None else reader.allocated_areas(), reader.size),
                     settings.chunk_size)

        def copy() -> object:
            result = move(reader, replica, plan, settings, skip_zero=True, digests=writer)
            if writer is not None:
                writer.flush()
            return result

        seconds, result = timed(copy)
    manifest.blob.delete_blob()
    return seconds, result.bytes_sent, replica


def scattered_blocks(size: int, fraction: float, seed: int) -> list[int]:
    """Offsets of distinct CBT blocks covering `fraction` of the disk: guest writes CBT reports exactly."""
    blocks = size // CBT_BLOCK
    return sorted(b * CBT_BLOCK for b in random.Random(seed).sample(range(blocks), int(blocks * fraction)))


def product_cycles(
    lab: dict, service: BlobServiceClient, account: str, vm: str, size: int, settings: MoverSettings
) -> tuple[list[tuple[str, float, int]], dict[str, float]]:
    """The product's own path on a lab VM: the guest fills `size` bytes of its disk, `replicate_once` copies
    them (snapshot, CBT, datastore reads through vcsim, checkpoints, recovery point), then two delta cycles
    after 1% guest churn, one in whole CBT blocks and one in the 4 KiB pages a file system writes."""
    # Imported here, not in the peak-RSS child: pyVmomi alone adds about 100 MB to a process.
    from vmshift.lab.guest import churn_guest, write_guest
    from vmshift.replication.cycle import ReplicationSettings, replicate_once
    from vmshift.vsphere.connection import VCenterConfig, connect
    from vmshift.vsphere.inventory import find_vm, vm_disks

    session = connect(VCenterConfig.from_env())
    capacity = vm_disks(find_vm(session, vm))[0].capacity_bytes
    if size > capacity:
        sys.exit(f"--size {size} is larger than the {capacity}-byte disk of lab VM {vm}: pick a smaller --size "
                 "or a larger --vm")
    run = uuid.uuid4().hex[:10]
    chosen = ReplicationSettings(account, replica_container=f"bench-replicas-{run}",
                                 state_container=f"bench-state-{run}", mover=settings)
    for offset in range(0, size, 128 * MIB):  # one guest write is at most 256 MiB; randbytes takes < 256 MiB
        write_guest(lab, vm, offset, random.Random(offset).randbytes(min(128 * MIB, size - offset)))

    def cycle() -> tuple[float, dict]:
        return timed(lambda: replicate_once(vm, session=session, blob_service=service, settings=chosen))

    try:
        initial_s, initial = cycle()
        blocks = scattered_blocks(size, 0.01, seed=3)
        for offset in blocks:
            write_guest(lab, vm, offset, random.Random(offset + 1).randbytes(CBT_BLOCK))
        delta_s, delta = cycle()
        pages = churn_guest(lab, vm, 1.0, seed=4)["bytes_written"]
        _, paged = cycle()
    finally:
        for name in (chosen.replica_container, chosen.state_container):
            service.delete_container(name)
    if (initial["kind"], delta["kind"], paged["kind"]) != ("initial", "delta", "delta"):
        sys.exit(f"lab VM {vm}: expected an initial cycle then two deltas, got {initial['kind']}, {delta['kind']}, "
                 f"{paged['kind']}")
    written = len(blocks) * CBT_BLOCK
    rows = [
        ("vmshift replicate_once, dense (lab VM, vcsim)", initial_s, initial["bytes_sent"]),
        ("vmshift delta, 1% churn in 64 KiB blocks (CBT)", delta_s, delta["bytes_sent"]),
    ]
    return rows, {
        "initial_s": initial_s,
        "initial_sent": initial["bytes_sent"],
        "delta_s": delta_s,
        "delta_bytes_vs_changed": delta["bytes_sent"] / written,
        "delta_bytes_vs_written_4k_pages": paged["bytes_sent"] / pages,
    }


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
    print(peak_rss_of_this_process())


def peak_rss_of_this_process() -> int:
    """VmHWM, the high-water mark of this process's own memory. Not getrusage's ru_maxrss: Linux carries that
    across fork and exec, so the child would report the benchmark's own peak (465 MB for both sizes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status: peak RSS is measured on Linux only")


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
    parser.add_argument("--vm", default="bench-repl-01", help="lab VM for the product-path rows (1 GiB disk)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ceiling-concurrency", default="2,4,8,16")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of the dense copies, each copy once a round in a rotating order")
    parser.add_argument("--container", help=argparse.SUPPRESS)
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:  # started by peak_rss, with the environment of the run
        rss_child(args.rss_child, args.account, args.container, args.concurrency)
        return
    lab = lab_with_its_environment()

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
            # Rounds in a rotating order: the machine is shared, so a slow moment should not pick a side, nor should
            # going first. Each ratio is the median over rounds of the ratio within a round: the machine's speed
            # moves between rounds (up to 1.9x here) far more than between one round's copies, and a best-of-rounds
            # figure follows whichever side had the luckiest round. The client's CPU is kept too (its least): it
            # does not move with the machine's load.
            copies: dict[str, Callable[[], tuple[float, int, PageBlobReplica | None]]] = {
                "upload_blob": lambda: (upload_blob_baseline(container, dense), size, None),
                "vmshift": lambda: vmshift_copy(container, dense, [DiskExtent(0, size)], settings),
                "no digests": lambda: vmshift_copy(container, dense, [DiskExtent(0, size)], settings, digests=False),
            }
            best_s = dict.fromkeys(copies, float("inf"))
            round_s: dict[str, list[float]] = {name: [] for name in copies}
            cpu_s = dict.fromkeys(copies, float("inf"))
            sent = dict.fromkeys(copies, 0)
            for round_ in range(args.rounds):
                for name in [*copies][round_ % len(copies) :] + [*copies][: round_ % len(copies)]:
                    cpu_before = client_cpu_s()
                    seconds, sent[name], replica = copies[name]()
                    cpu_s[name] = min(cpu_s[name], client_cpu_s() - cpu_before)
                    best_s[name] = min(best_s[name], seconds)
                    round_s[name].append(seconds)
                    if replica is not None:
                        replica.blob.delete_blob()
            baseline_dense, dense_s, undigested_s = best_s["upload_blob"], best_s["vmshift"], best_s["no digests"]
            vs_upload_blob = [u / v for u, v in zip(round_s["upload_blob"], round_s["vmshift"], strict=True)]
            digests_vs_none = [n / v for n, v in zip(round_s["no digests"], round_s["vmshift"], strict=True)]
            rows.append(("A upload_blob, dense", baseline_dense, size))
            best = max(
                (ceiling(container, min(size, 256 * MIB), int(c)), int(c)) for c in args.ceiling_concurrency.split(",")
            )
            ceiling_bytes = min(size, 256 * MIB)
            rows.append(
                (f"B 4 MiB upload_page ceiling (concurrency {best[1]})", ceiling_bytes / best[0] / 1e6, ceiling_bytes)
            )
            rows.append(("vmshift move(), dense (local image)", dense_s, sent["vmshift"]))
            rows.append(("vmshift move(), dense, no digests", undigested_s, sent["no digests"]))
            dense.unlink()

            allocated = total_bytes(write_scattered(sparse, size, 0.10, seed=2))
            baseline_sparse = upload_blob_baseline(container, sparse)
            rows.append(("A upload_blob, 10% allocated", baseline_sparse, allocated))
            sparse_s, sparse_sent, replica = vmshift_copy(container, sparse, None, settings)
            rows.append(("vmshift initial, 10% allocated", sparse_s, sparse_sent))
            replica.blob.delete_blob()

        product_rows, product = product_cycles(lab, service, args.account, args.vm, size, settings)
        rows += product_rows
        rss_small, rss_large = (
            peak_rss(parse_size(s), args.account, container.container_name, args.concurrency)
            for s in args.rss_sizes.split(",")
        )
        figures = {
            "dense_vs_upload_blob": statistics.median(vs_upload_blob),
            # The mover's speed with its digests and manifest over its speed without: what hashing costs.
            "dense_digests_vs_none": statistics.median(digests_vs_none),
            "product_dense_vs_upload_blob": (product["initial_sent"] / product["initial_s"]) / (size / baseline_dense),
            "dense_vs_ceiling": (size / dense_s / 1e6) / best[0],
            "sparse_time_vs_upload_blob": sparse_s / baseline_sparse,
            "sparse_bytes_vs_allocated": sparse_sent / allocated,
            # Sent by the delta cycle over what the guest wrote, in whole 64 KiB CBT blocks.
            "delta_bytes_vs_changed": product["delta_bytes_vs_changed"],
            "delta_time_vs_full_upload": product["delta_s"] / product["initial_s"],
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
    print(f"dense, each round (upload_blob s / vmshift s): {', '.join(f'{r:.3f}' for r in vs_upload_blob)}; "
          f"best of the rounds: {baseline_dense / dense_s:.3f}")
    print("client CPU per GiB, dense: " + ", ".join(f"{name} {seconds * GIB / size:.2f} s" for name, seconds in
                                                     cpu_s.items())
          + " (vmshift adds the chunk digests and each write's CRC-64, which upload_blob does not send; the rest"
            " of a copy's time is the storage's)")
    print(f"{'delta_bytes_vs_written_4k_pages':30} {product['delta_bytes_vs_written_4k_pages']:8.3f}  no target: "
          "4 KiB guest pages, CBT reports whole 64 KiB blocks (at most 16)")
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
                "product_dense_mb_s": round(product["initial_sent"] / product["initial_s"] / 1e6, 1),
                "delta_bytes_vs_written_4k_pages": round(product["delta_bytes_vs_written_4k_pages"], 4),
                "dense_vs_upload_blob_rounds": [round(r, 3) for r in vs_upload_blob],
                "dense_vs_upload_blob_best_of_rounds": round(baseline_dense / dense_s, 4),
                "client_cpu_s_per_gib": {name: round(seconds * GIB / size, 2) for name, seconds in cpu_s.items()},
                "rss_small_bytes": rss_small,
                "rss_large_bytes": rss_large,
            }
        )
    )


if __name__ == "__main__":
    main()
