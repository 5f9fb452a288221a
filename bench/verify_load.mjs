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
import { option, printSummary } from "./load.mjs";

const [url, pathsFile, ...rest] = process.argv.slice(2);
if (!url || !pathsFile) {
  console.error("usage: verify_load.mjs URL PATHS_FILE [--connections N] [--seconds S]");
  process.exit(2);
}
const connections = Number(option(rest, "--connections", 32));
const seconds = Number(option(rest, "--seconds", 20));
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

printSummary(result, connections, {
  bytes_per_answer: result.requests.total ? result.throughput.total / result.requests.total : 0,
});
