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
// the seeded random values of ort_latency.js (ort_common.js).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const {parseArgs, createSession, seededFeeds} = require('./ort_common');

async function main() {
  const args = parseArgs(process.argv.slice(2), 'ort_profile.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort_profile-'));
  try {
    const session = await createSession(args.model, args.threads, {
      enableProfiling: true,
      profileFilePrefix: path.join(dir, 'trace'),
    });
    const feeds = seededFeeds(session);
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
