"""The lab's Azurite checks x-ms-content-crc64 with vmshift/lab/azurite_crc64.js (eight bytes a step) in place of
Azurite's own byte-at-a-time loop: it must compute the same CRC-64 for every body, however the body arrives in
chunks, or the lab would refuse good page writes or take changed ones. The refusal itself, through the lab, is
tests/replication/test_cycle_digests.py's transit test."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

# Random bodies of awkward lengths, each fed as a stream in random pieces to Azurite's function and to the lab's.
COMPARE = """
const { Readable } = require("stream");
const crypto = require("crypto");
const azurite = require("azurite/dist/src/common/utils/utils");
const lab = require("./vmshift/lab/azurite_crc64");
const pieces = (body) => {
  const out = [];
  for (let at = 0; at < body.length;) {
    const size = 1 + crypto.randomInt(Math.max(1, Math.min(body.length - at, 70000)));
    out.push(body.subarray(at, at + size));
    at += size;
  }
  return out;
};
const hex = (bytes) => Buffer.from(bytes).toString("hex");
(async () => {
  const results = [];
  for (const size of JSON.parse(process.argv[1])) {
    const body = crypto.randomBytes(size);
    const expected = { crc64: "given" };
    const theirs = await azurite.computeTransactionalChecksums(Readable.from(pieces(body)), expected);
    const ours = await lab.computeTransactionalChecksums(Readable.from(pieces(body)), expected);
    const flipped = Buffer.from(body);
    if (size) flipped[crypto.randomInt(size)] ^= 0x01;
    const changed = await lab.computeTransactionalChecksums(Readable.from([flipped]), expected);
    results.push({ size, theirs: hex(theirs.crc64), ours: hex(ours.crc64), changed: hex(changed.crc64) });
  }
  const check = hex(new lab.Crc64().update("123456789").digest());
  console.log(JSON.stringify({ results, check }));
})();
"""
SIZES = [0, 1, 7, 8, 9, 511, 512, 4096, 65_535, 65_536 + 3, 4 << 20]


def test_the_labs_crc64_equals_azurites_own_for_any_body_in_any_pieces_and_tells_a_changed_byte() -> None:
    answer = subprocess.run(["node", "-e", COMPARE, json.dumps(SIZES)], cwd=PROJECT, capture_output=True,
                            text=True, timeout=120, check=True)
    figures = json.loads(answer.stdout)
    # CRC-64/NVME's check value for "123456789" is 0xae8b14860a799888; the wire carries it little-endian.
    assert figures["check"] == "8898790a86148bae"
    for result in figures["results"]:
        assert result["ours"] == result["theirs"], result
        if result["size"]:
            assert result["changed"] != result["ours"], result
