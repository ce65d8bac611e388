// Runs a TF.js graph model folder on inputs written by graphreport (graphreport/convert/tfjs_runtime.py).
// The pure-JS CPU backend of @tensorflow/tfjs-core: the same kernels a browser falls back to, no native
// libtensorflow (which @tensorflow/tfjs-node would download from outside the npm registry).
//   node run_model.js MODEL_DIR REQUEST_JSON
// REQUEST_JSON: {"dir": work folder, "inputs": [names], "outputs": [names],
//                "samples": [[{"file", "dtype", "shape"}, ...one per input], ...]}
// Writes dir/out_K_J.bin (raw little-endian values) and dir/response.json
// ({"inputs": model input names, "samples": [[{"file", "dtype", "shape"}, ...]]}); prints "sample K" per sample.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfc = require('@tensorflow/tfjs-converter');

function fileHandler(dir) {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = [];
        const parts = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) parts.push(fs.readFileSync(path.join(dir, path.basename(p))));
        }
        const all = Buffer.concat(parts);
        return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
      });
    },
  };
}

function values(buf, dtype) {
  const bytes = new Uint8Array(buf).buffer;  // a copy, aligned
  if (dtype === 'float32') return new Float32Array(bytes);
  if (dtype === 'int32') return new Int32Array(bytes);
  if (dtype === 'bool') return new Uint8Array(bytes);
  throw new Error(`input dtype ${dtype} is not supported by TF.js`);
}

async function main() {
  const [modelDir, requestFile] = process.argv.slice(2);
  await tf.setBackend('cpu');
  await tf.ready();
  const model = await tfc.loadGraphModel(fileHandler(modelDir));
  const req = JSON.parse(fs.readFileSync(requestFile, 'utf8'));
  const modelInputs = model.inputs.map((t) => t.name);
  const byName = req.inputs.every((n) => modelInputs.includes(n));
  if (!byName && req.inputs.length !== modelInputs.length) {
    throw new Error(`the model has inputs ${modelInputs.join(', ')}; expected ${req.inputs.join(', ')}`);
  }
  const names = byName ? req.inputs : modelInputs;
  const res = {inputs: modelInputs, samples: []};
  for (let k = 0; k < req.samples.length; k++) {
    const feed = {};
    req.samples[k].forEach((x, j) => {
      feed[names[j]] = tf.tensor(values(fs.readFileSync(x.file), x.dtype), x.shape, x.dtype);
    });
    let outs = await model.executeAsync(feed, req.outputs);
    if (!Array.isArray(outs)) outs = [outs];
    const row = [];
    for (let j = 0; j < outs.length; j++) {
      const t = outs[j];
      const data = await t.data();
      const file = path.join(req.dir, `out_${k}_${j}.bin`);
      fs.writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      row.push({file, dtype: t.dtype, shape: t.shape});
    }
    tf.dispose(outs);
    tf.dispose(Object.values(feed));
    res.samples.push(row);
    process.stdout.write(`sample ${k + 1}\n`);
  }
  fs.writeFileSync(path.join(req.dir, 'response.json'), JSON.stringify(res));
}

main().catch((e) => {
  process.stderr.write(`tfjs-runner: ${(e && e.message) || e}\n`);
  process.exit(1);
});
