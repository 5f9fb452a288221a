// What the load generators share (single_load.mjs, verify_load.mjs): their options and the one
// JSON line they print: 2xx answers ("ok"), latency percentiles of the 2xx answers (ms), errors,
// timeouts and non-2xx answers.

// The value following `name` among a script's arguments, else `fallback`.
export const option = (args, name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};

// Print autocannon's `result` as one JSON line, with the `extra` figures of the script.
export const printSummary = (result, connections, extra = {}) => {
  console.log(
    JSON.stringify({
      ok: result["2xx"],
      requests: result.requests.total,
      seconds: result.duration,
      p50_ms: result.latency.p50,
      p90_ms: result.latency.p90,
      p99_ms: result.latency.p99,
      max_ms: result.latency.max,
      ...extra,
      non_2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      connections,
    }),
  );
};
