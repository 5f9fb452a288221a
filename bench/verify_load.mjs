// Load generator for the verification API, the verify page and the plain lookup: autocannon
// (C-speed HTTP/1.1 keep-alive client, HdrHistogram latencies) sending GET requests to the
// paths of a file, round-robin.
//
//   node bench/verify_load.mjs URL PATHS_FILE [--connections N] [--seconds S]
//
// Prints one JSON line: 2xx answers ("ok"), latency percentiles of the 2xx answers (ms), bytes
// received per answer, errors, timeouts and non-2xx answers.
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

const [url, pathsFile, ...rest] = process.argv.slice(2);
if (!url || !pathsFile) {
  console.error("usage: verify_load.mjs URL PATHS_FILE [--connections N] [--seconds S]");
  process.exit(2);
}
const option = (name, fallback) => {
  const at = rest.indexOf(name);
  return at >= 0 ? rest[at + 1] : fallback;
};
const connections = Number(option("--connections", 64));
const seconds = Number(option("--seconds", 20));
const paths = readFileSync(pathsFile, "utf8").split("\n").filter(Boolean);
let counter = 0;

const result = await autocannon({
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

console.log(
  JSON.stringify({
    ok: result["2xx"],
    requests: result.requests.total,
    seconds: result.duration,
    p50_ms: result.latency.p50,
    p90_ms: result.latency.p90,
    p99_ms: result.latency.p99,
    max_ms: result.latency.max,
    bytes_per_answer: result.requests.total ? result.throughput.total / result.requests.total : 0,
    non_2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    connections,
  }),
);
