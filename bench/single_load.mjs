// Load generator for the single-step endpoint: autocannon (C-speed HTTP/1.1 keep-alive client,
// HdrHistogram latencies) posting one production step per request, round-robin over products.
//
//   node bench/single_load.mjs URL KEY SERIALS_FILE [--connections N] [--seconds S] [--answers PATH]
//
// Prints one JSON line: 2xx answers ("ok"), latency percentiles of the 2xx answers (ms), errors,
// timeouts and non-2xx answers. With --answers, writes "record-id epoch-ms" per created step:
// when its answer arrived, for accepted -> anchored from the answer.
import { writeFileSync } from "node:fs";
import { readFileSync } from "node:fs";
import autocannon from "autocannon";
import { option, printSummary } from "./load.mjs";

const [url, key, serialsFile, ...rest] = process.argv.slice(2);
if (!url || !key || !serialsFile) {
  console.error(
    "usage: single_load.mjs URL KEY SERIALS_FILE [--connections N] [--seconds S] [--answers PATH]",
  );
  process.exit(2);
}
const connections = Number(option(rest, "--connections", 32));
const seconds = Number(option(rest, "--seconds", 20));
const answersPath = option(rest, "--answers", null);
const serials = readFileSync(serialsFile, "utf8").split("\n").filter(Boolean);
const kinds = ["wax_3d_print", "casting", "stone_setting", "polishing", "laser_engraving"];
const answers = [];
let counter = 0;

const result = await autocannon({
  url: `${url}/api/v1/steps`,
  connections,
  duration: seconds,
  excludeErrorStats: true, // latencies of 2xx answers only; the others are counted as failures
  requests: [
    {
      method: "POST",
      setupRequest: (request) => {
        const i = counter++;
        request.headers = {
          ...request.headers,
          "content-type": "application/json",
          authorization: `Bearer ${key}`,
        };
        request.body = JSON.stringify({
          product_serial: serials[i % serials.length],
          kind: kinds[i % kinds.length],
          occurred_at: "2026-11-20T09:30:00+08:00",
          parameters: { layer_height_mm: "0.05", tool: "T3" },
          measurements: { mass_g: "12.345" },
          responsible: `emp-${String(i % 97).padStart(5, "0")}`,
        });
        return request;
      },
      onResponse: answersPath
        ? (status, body) => {
            if (status >= 200 && status < 300) answers.push(`${JSON.parse(body).id} ${Date.now()}`);
          }
        : undefined,
    },
  ],
});

if (answersPath) writeFileSync(answersPath, answers.join("\n"));
printSummary(result, connections);
