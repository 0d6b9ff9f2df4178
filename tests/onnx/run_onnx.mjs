// ONNX Runtime (CPU, one thread) on one sequence: the reference for modelbake's ONNX
// interpreter (tests/integration/test_onnx_reference.py) and bench/infer.sh.
//   node run_onnx.mjs MODEL.onnx '[101, 7, 102]' [RUNS]
// prints {"outputs": {name: {"dims": [...], "data": [...]}}, "ms": [per-run milliseconds]}.
import ort from "onnxruntime-node";

const [model, idsText, runsText] = process.argv.slice(2);
const ids = JSON.parse(idsText);
const runs = Number(runsText || 1);
const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: "sequential",
});
const dims = [1, ids.length];
const feeds = {};
for (const name of session.inputNames) {
  const values = name === "input_ids" ? ids : ids.map(() => (name === "attention_mask" ? 1 : 0));
  feeds[name] = new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);
}
const ms = [];
let result;
for (let r = 0; r < runs; r++) {
  const t0 = process.hrtime.bigint();
  result = await session.run(feeds);
  ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const outputs = {};
for (const [name, t] of Object.entries(result)) outputs[name] = { dims: t.dims, data: Array.from(t.data, Number) };
process.stdout.write(JSON.stringify({ outputs, ms }) + "\n");
