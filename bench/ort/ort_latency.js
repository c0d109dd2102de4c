// Times ONNX Runtime on one .onnx file, the peer of `serenity_run --json`.
// usage: node ort_latency.js MODEL.onnx [--threads N] [--warmup N] [--runs N]
// Prints one JSON object: model, threads, runs, load_ms, latency_ms {min,
// median, p90, mean, max}. Inputs are seeded random values (the values do not
// change the work these CNNs do).
'use strict';
const path = require('path');
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const args = {threads: 1, warmup: 3, runs: 20, model: null};
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--threads') args.threads = parseInt(value(), 10);
    else if (flag === '--warmup') args.warmup = parseInt(value(), 10);
    else if (flag === '--runs') args.runs = parseInt(value(), 10);
    else if (!flag.startsWith('--') && args.model === null) args.model = flag;
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!args.model) throw new Error('usage: ort_latency.js MODEL.onnx [--threads N] [--warmup N] [--runs N]');
  return args;
}

function percentile(sorted, p) {
  const index = Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const loadStart = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(args.model, {
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;

  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648 - 0.5;
  };
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === name) : null;
    const dims = meta && meta.shape ? meta.shape.map((d) => (typeof d === 'number' ? d : 1)) : null;
    if (!dims) throw new Error(`cannot read the shape of input ${name}`);
    const count = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    for (let i = 0; i < count; ++i) data[i] = random();
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
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
