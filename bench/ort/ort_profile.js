// Per-node times of ONNX Runtime on one .onnx file, the peer of
// `serenity_run --profile --json`.
// usage: node ort_profile.js MODEL.onnx [--threads N] [--warmup N] [--runs N]
// Runs the session with ONNX Runtime's profiler on, then reads the trace it
// wrote and prints one JSON object: model, threads, runs, latency_ms (mean of
// the timed runs as the profiler saw them) and `nodes`, one entry per executed
// node in order: name, op_type (after ORT's fusions: a fused Conv+Relu is one
// "Conv"), mean_ms over the timed runs, and the input shapes ORT reported
// (weights included, so a caller can tell 1x1, depthwise and other
// convolutions apart). Warm-up runs are profiled too but left out. Inputs are
// the seeded random values of ort_latency.js.
'use strict';
const fs = require('fs');
const os = require('os');
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
  if (!args.model || !(args.runs >= 1) || !(args.warmup >= 0) || !(args.threads >= 1)) {
    throw new Error('usage: ort_profile.js MODEL.onnx [--threads N>=1] [--warmup N>=0] [--runs N>=1]');
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort_profile-'));
  try {
    const session = await ort.InferenceSession.create(args.model, {
      intraOpNumThreads: args.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableProfiling: true,
      profileFilePrefix: path.join(dir, 'trace'),
    });
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
    for (let i = 0; i < args.warmup + args.runs; ++i) await session.run(feeds);
    session.endProfiling();
    const traces = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    if (traces.length !== 1) throw new Error(`expected one profile trace in ${dir}, found ${traces.length}`);
    const events = JSON.parse(fs.readFileSync(path.join(dir, traces[0]), 'utf8'));

    // Each model_run event spans its nodes' events; keep the last `runs` ones.
    const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run')
        .sort((a, b) => a.ts - b.ts);
    if (runs.length !== args.warmup + args.runs) {
      throw new Error(`the trace holds ${runs.length} runs, expected ${args.warmup + args.runs}`);
    }
    const timed = runs.slice(args.warmup);
    const start = timed[0].ts;
    const nodes = new Map();
    for (const e of events) {
      if (e.cat !== 'Node' || e.ts < start || !e.name.endsWith('_kernel_time')) continue;
      const name = e.name.slice(0, -'_kernel_time'.length);
      if (!nodes.has(name)) {
        nodes.set(name, {
          name, op_type: e.args.op_name, total_us: 0, first_ts: e.ts,
          input_shapes: (e.args.input_type_shape || []).map((t) => Object.values(t)[0]),
          output_shapes: (e.args.output_type_shape || []).map((t) => Object.values(t)[0]),
        });
      }
      nodes.get(name).total_us += e.dur;
    }
    const list = [...nodes.values()].sort((a, b) => a.first_ts - b.first_ts).map((n) => ({
      name: n.name, op_type: n.op_type, mean_ms: n.total_us / args.runs / 1e3,
      input_shapes: n.input_shapes, output_shapes: n.output_shapes,
    }));
    const latency = timed.reduce((a, r) => a + r.dur, 0) / timed.length / 1e3;
    console.log(JSON.stringify({
      runtime: 'onnxruntime-node', model: path.basename(args.model), threads: args.threads,
      runs: args.runs, latency_ms: latency, nodes: list,
    }));
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
}

main().catch((error) => {
  console.error(`ort_profile: error: ${error.message}`);
  process.exit(1);
});
