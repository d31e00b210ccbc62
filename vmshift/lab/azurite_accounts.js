#!/usr/bin/env node
// Azurite's blob service, with the storage accounts the lab's ARM simulator creates at run time.
//
// Azurite learns accounts only from its own process.env.AZURITE_ACCOUNTS, re-read every 60 s. The ARM
// simulator writes every account it holds, with the keys its listKeys returns, to the file named by
// VMSHIFT_AZURITE_ACCOUNTS_FILE (AZURITE_ACCOUNTS' syntax, `name:key1:key2;...`). Each account lookup
// checks whether that file changed and, if so, folds it into AZURITE_ACCOUNTS and refreshes Azurite's
// account store: an account created (or deleted) through ARM counts from the next request on.
// Azurite's own files stay as npm installed them. Usage: the arguments of azurite-blob.
// It also hides SAS signatures in the access log, and computes CRC-64 faster (below).
"use strict";

const fs = require("fs");

const AccountDataStore = require("azurite/dist/src/common/AccountDataStore").default;

const accountsFile = process.env.VMSHIFT_AZURITE_ACCOUNTS_FILE;
if (!accountsFile) {
  console.error("azurite_accounts.js: set VMSHIFT_AZURITE_ACCOUNTS_FILE to the file the ARM simulator writes");
  process.exit(2);
}
// The accounts the launcher passes (the lab spec's), in force before the simulator first writes the file.
const launcherAccounts = process.env.AZURITE_ACCOUNTS || "";
let seen = null;

function fileVersion() {
  try {
    const stat = fs.statSync(accountsFile);
    // The simulator replaces the file by rename: a new inode even within one mtime tick.
    return `${stat.ino}:${stat.mtimeMs}:${stat.size}`;
  } catch (err) {
    if (err.code === "ENOENT") {
      return "absent";
    }
    throw err;
  }
}

function readAccountsFile() {
  try {
    return fs.readFileSync(accountsFile, "utf8").trim();
  } catch (err) {
    if (err.code === "ENOENT") {
      return "";
    }
    throw err;
  }
}

// True when AZURITE_ACCOUNTS was changed and Azurite's store must refresh. The file's entries come
// last: Azurite keeps the last entry of a name, so the simulator's keys (key2 too) win.
function syncEnvironment() {
  const version = fileVersion();
  if (version === seen) {
    return false;
  }
  seen = version;
  process.env.AZURITE_ACCOUNTS = [launcherAccounts, readAccountsFile()].filter((part) => part).join(";");
  return true;
}

const refresh = AccountDataStore.prototype.refresh;

AccountDataStore.prototype.getAccount = function getAccountOfLab(name) {
  if (syncEnvironment()) {
    refresh.call(this);
  }
  return this.accounts[name];
};

// Azurite's access log prints each request's URL whole. Azure Storage's own logs hide a SAS signature;
// so does the lab's, so a read link (nbdkit's, the disks' grants) is not a usable secret in a log file.
const SAS_SIGNATURE = /([?&]sig=)[^&\s"]*/gi;
const writeOut = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) =>
  writeOut(typeof chunk === "string" ? chunk.replace(SAS_SIGNATURE, "$1REDACTED") : chunk, ...rest);

// Put Page's x-ms-content-crc64 checked eight bytes a step (azurite_crc64.js): Azurite's own loop is ~8x slower.
require("./azurite_crc64").install();

syncEnvironment();
require("azurite/dist/src/blob/main");
