// Load generator for the verification API, the verify page and the plain lookup: autocannon
// (C-speed HTTP/1.1 keep-alive client, HdrHistogram latencies) sending GET requests to the
// paths of a file, round-robin.
//
//   node bench/verify_load.mjs URL PATHS_FILE [--connections N] [--seconds S]
//                              [--mine-at S --rpc RPC_URL] [--bin-seconds S]
//
// Prints one JSON line: 2xx answers ("ok"), latency percentiles of the 2xx answers (ms), bytes
// received per answer, errors, timeouts and non-2xx answers; and, from every 2xx answer's time
// and latency, the phase in bins of `--bin-seconds` (1 s; a last partial bin is left out): each
// bin's 2xx answers per second and p99, so a phase that slows down for a while or for all its
// length shows as such, not only in its percentiles. With `--mine-at`, one empty block is mined
// (anvil's `evm_mine` at RPC_URL) that many seconds into the load, and "block" describes the
// load before and after it: requests/s and p99 before, the slowest bin and the worst p99 after,
// and the seconds from the block until p99 recovered (every later bin's p99 within twice the p99
// before the block, and requests/s at half that before it at least; null when it never did).
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { option, printSummary } from "./load.mjs";

const [url, pathsFile, ...rest] = process.argv.slice(2);
if (!url || !pathsFile) {
  console.error(
    "usage: verify_load.mjs URL PATHS_FILE [--connections N] [--seconds S] " +
      "[--mine-at S --rpc RPC_URL] [--bin-seconds S]",
  );
  process.exit(2);
}
const connections = Number(option(rest, "--connections", 32));
const seconds = Number(option(rest, "--seconds", 20));
const binSeconds = Number(option(rest, "--bin-seconds", 1));
const mineAt = option(rest, "--mine-at", null);
const rpc = option(rest, "--rpc", null);
if (mineAt !== null && !rpc) {
  console.error("--mine-at needs --rpc");
  process.exit(2);
}
const paths = readFileSync(pathsFile, "utf8").split("\n").filter(Boolean);
let counter = 0;

const rpcCall = async (method) => {
  const answer = await fetch(rpc, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: [] }),
  });
  const body = await answer.json();
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
};

// Every 2xx answer: when it came (s since the load started) and its latency (ms).
const times = [];
const latencies = [];
let started = null;
const instance = autocannon({
  url,
  connections,
  duration: seconds,
  excludeErrorStats: true, // latencies of 2xx answers only; the others are counted as failures
  requests: [
    {
      method: "GET",
      setupRequest: (request) => {
        request.path = paths[counter++ % paths.length];
        return request;
      },
    },
  ],
});
started = performance.now();
instance.on("response", (_client, statusCode, _bytes, responseTime) => {
  if (statusCode >= 200 && statusCode < 300) {
    times.push((performance.now() - started) / 1000);
    latencies.push(responseTime);
  }
});

let mined = null;
let mining = null;
if (mineAt !== null) {
  mining = new Promise((resolve, reject) => {
    setTimeout(async () => {
      try {
        await rpcCall("evm_mine");
        const at = (performance.now() - started) / 1000;
        mined = { at_seconds: at, number: Number.parseInt(await rpcCall("eth_blockNumber"), 16) };
        resolve();
      } catch (error) {
        reject(error);
      }
    }, Number(mineAt) * 1000);
  });
}

const result = await new Promise((resolve, reject) => instance.then(resolve, reject));
if (mining) await mining;

const p99 = (values) => {
  if (!values.length) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)];
};

// The 2xx answers between `from` and `to` seconds: requests/s and p99 (ms).
const window = (from, to) => {
  const inside = [];
  for (let i = 0; i < times.length; i++) {
    if (times[i] >= from && times[i] < to) inside.push(latencies[i]);
  }
  return { from_seconds: from, requests_per_second: inside.length / (to - from), p99_ms: p99(inside) };
};

const end = Math.min(seconds, times.length ? times[times.length - 1] : 0);
const bins = [];
for (let from = 0; from + binSeconds <= end + 1e-9; from += binSeconds) {
  bins.push(window(from, from + binSeconds));
}
const full = bins.filter((bin) => bin.p99_ms !== null);
const extra = {
  bytes_per_answer: result.requests.total ? result.throughput.total / result.requests.total : 0,
  bin_seconds: binSeconds,
  bins,
  slowest_bin_requests_per_second: bins.length
    ? Math.min(...bins.map((bin) => bin.requests_per_second))
    : null,
  worst_bin_p99_ms: full.length ? Math.max(...full.map((bin) => bin.p99_ms)) : null,
};

if (mined) {
  const before = window(0, mined.at_seconds);
  const after = [];
  for (let from = mined.at_seconds; from + binSeconds <= end + 1e-9; from += binSeconds) {
    after.push(window(from, from + binSeconds));
  }
  const healthy = (bin) =>
    bin.p99_ms !== null &&
    before.p99_ms !== null &&
    bin.p99_ms <= 2 * before.p99_ms &&
    bin.requests_per_second >= 0.5 * before.requests_per_second;
  let recovered = null;
  for (let i = after.length - 1; i >= 0 && healthy(after[i]); i--) {
    recovered = after[i].from_seconds - mined.at_seconds;
  }
  extra.block = {
    number: mined.number,
    mined_at_seconds: mined.at_seconds,
    before,
    after,
    slowest_bin_requests_per_second: after.length
      ? Math.min(...after.map((bin) => bin.requests_per_second))
      : null,
    worst_bin_p99_ms: after.some((bin) => bin.p99_ms !== null)
      ? Math.max(...after.filter((bin) => bin.p99_ms !== null).map((bin) => bin.p99_ms))
      : null,
    recovered_after_seconds: recovered,
  };
}

printSummary(result, connections, extra);
