// What ort_latency.js and ort_profile.js share: their command line, the
// session options, and the seeded random inputs (the values do not change
// the work these CNNs do).
'use strict';
const ort = require('onnxruntime-node');

// usage: SCRIPT MODEL.onnx [--threads N] [--warmup N] [--runs N]
function parseArgs(argv, script) {
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
  if (!args.model || !(args.runs >= 1) || !(args.warmup >= 0) || !(args.threads >= 1)) {
    throw new Error(
        `usage: ${script} MODEL.onnx [--threads N>=1] [--warmup N>=0] [--runs N>=1]`);
  }
  return args;
}

// One inference at a time on `threads` threads, every graph optimisation on;
// `extra` adds options (the profiler's).
function createSession(model, threads, extra = {}) {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...extra,
  });
}

// A float32 tensor of seeded values in [-0.5, 0.5) per session input.
function seededFeeds(session) {
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
  return feeds;
}

module.exports = {parseArgs, createSession, seededFeeds};
