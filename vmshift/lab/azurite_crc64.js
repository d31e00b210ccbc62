// CRC-64/NVME (x-ms-content-crc64) for the lab's Azurite, eight bytes a step instead of one.
//
// Azurite computes every Put Page's CRC-64 (to check an x-ms-content-crc64 sent, and to answer one) with a
// byte-at-a-time loop: ~100 MB/s here, so each GiB of page writes costs ~10 s of Azurite's one JavaScript thread,
// on a machine of 2 cores that the client shares. Azure's storage checks it at line rate. Slicing-by-8 computes the same function (the
// reflected polynomial 0x9a6c9329ac4bc9b5, init and xorout all ones, little-endian on the wire) from eight
// tables, several times faster; tests/lab/test_azurite_crc64.py compares it with Azurite's own.
// A 64-bit value is two 32-bit halves (hi, lo), as in Azurite, to stay out of BigInt.
"use strict";

const crypto = require("crypto");

const POLY_HI = 0x9a6c9329;
const POLY_LO = 0xac4bc9b5;

// TABLES[k * 512 + i * 2] and [... + 1]: hi and lo of table k for byte i (table 0 is the byte-at-a-time one).
const TABLES = (() => {
  const tables = new Uint32Array(8 * 512);
  for (let i = 0; i < 256; i++) {
    let hi = 0;
    let lo = i;
    for (let bit = 0; bit < 8; bit++) {
      const odd = lo & 1;
      lo = (((hi & 1) << 31) | (lo >>> 1)) >>> 0;
      hi >>>= 1;
      if (odd) {
        hi = (hi ^ POLY_HI) >>> 0;
        lo = (lo ^ POLY_LO) >>> 0;
      }
    }
    tables[i * 2] = hi;
    tables[i * 2 + 1] = lo;
  }
  for (let k = 1; k < 8; k++) {
    for (let i = 0; i < 256; i++) {
      const hi = tables[(k - 1) * 512 + i * 2];
      const lo = tables[(k - 1) * 512 + i * 2 + 1];
      const index = (lo & 0xff) * 2;
      tables[k * 512 + i * 2] = ((hi >>> 8) ^ tables[index]) >>> 0;
      tables[k * 512 + i * 2 + 1] = ((((hi & 0xff) << 24) | (lo >>> 8)) ^ tables[index + 1]) >>> 0;
    }
  }
  return tables;
})();

class Crc64 {
  constructor() {
    this.hi = 0xffffffff;
    this.lo = 0xffffffff;
  }

  update(chunk) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    const t = TABLES;
    let hi = this.hi;
    let lo = this.lo;
    let i = 0;
    for (const end = bytes.length - 7; i < end; i += 8) {
      lo ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
      hi ^= bytes[i + 4] | (bytes[i + 5] << 8) | (bytes[i + 6] << 16) | (bytes[i + 7] << 24);
      const a = 7 * 512 + (lo & 0xff) * 2;
      const b = 6 * 512 + ((lo >>> 8) & 0xff) * 2;
      const c = 5 * 512 + ((lo >>> 16) & 0xff) * 2;
      const d = 4 * 512 + (lo >>> 24) * 2;
      const e = 3 * 512 + (hi & 0xff) * 2;
      const f = 2 * 512 + ((hi >>> 8) & 0xff) * 2;
      const g = 512 + ((hi >>> 16) & 0xff) * 2;
      const h = (hi >>> 24) * 2;
      hi = t[a] ^ t[b] ^ t[c] ^ t[d] ^ t[e] ^ t[f] ^ t[g] ^ t[h];
      lo = t[a + 1] ^ t[b + 1] ^ t[c + 1] ^ t[d + 1] ^ t[e + 1] ^ t[f + 1] ^ t[g + 1] ^ t[h + 1];
    }
    for (; i < bytes.length; i++) {
      const index = ((lo ^ bytes[i]) & 0xff) * 2;
      lo = (((hi & 0xff) << 24) | (lo >>> 8)) ^ t[index + 1];
      hi = (hi >>> 8) ^ t[index];
    }
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
    return this;
  }

  digest() {
    const result = new Uint8Array(8);
    const view = new DataView(result.buffer);
    view.setUint32(0, (this.lo ^ 0xffffffff) >>> 0, true);
    view.setUint32(4, (this.hi ^ 0xffffffff) >>> 0, true);
    return result;
  }
}

// Azurite's computeTransactionalChecksums (azurite/dist/src/common/utils/utils.js), with Crc64: MD5 and/or
// CRC-64 in one pass over the body, each when its header was sent or `force` asks for it. Azurite's callers
// reach it through the module's exports, so replacing the export replaces it for every request.
async function computeTransactionalChecksums(stream, expected, force) {
  const md5 = expected.md5 !== undefined || !!force?.md5 ? crypto.createHash("md5") : undefined;
  const crc = expected.crc64 !== undefined || !!force?.crc64 ? new Crc64() : undefined;
  return new Promise((resolve, reject) => {
    stream
      .on("data", (chunk) => {
        md5?.update(chunk);
        crc?.update(chunk);
      })
      .on("end", () => resolve({
        md5: md5 ? new Uint8Array(md5.digest()) : undefined,
        crc64: crc ? crc.digest() : undefined,
      }))
      .on("error", reject);
  });
}

function install() {
  require("azurite/dist/src/common/utils/utils").computeTransactionalChecksums = computeTransactionalChecksums;
}

module.exports = { Crc64, computeTransactionalChecksums, install };
