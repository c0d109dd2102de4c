// Times ONNX Runtime on one .onnx file, the peer of `serenity_run --json`.
// usage: node ort_latency.js MODEL.onnx [--threads N] [--warmup N] [--runs N]
// Prints one JSON object: model, threads, runs, load_ms, latency_ms {min,
// median, p90, mean, max}. Inputs are seeded random values (the values do not
// change the work these CNNs do).
'use strict';
const path = require('path');
const {parseArgs, createSession, seededFeeds} = require('./ort_common');

function percentile(sorted, p) {
  const index = Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

async function main() {
  const args = parseArgs(process.argv.slice(2), 'ort_latency.js');
  const loadStart = process.hrtime.bigint();
  const session = await createSession(args.model, args.threads);
  const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;

  const feeds = seededFeeds(session);
  for (let i = 0; i < args.warmup; ++i) await session.run(feeds);
  const times = [];
  for (let i = 0; i < args.runs; ++i) {
    const start = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(JSON.stringify({
    runtime: 'onnxruntime-node',
    model: path.basename(args.model),
    threads: args.threads,
    runs: args.runs,
    load_ms: loadMs,
    latency_ms: {
      min: sorted[0], median: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), mean,
      max: sorted[sorted.length - 1],
    },
  }));
}

main().catch((error) => {
  console.error(`ort_latency: error: ${error.message}`);
  process.exit(1);
});
