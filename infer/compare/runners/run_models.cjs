// Run ONNX models on onnxruntime-node (found through NODE_PATH), CPU provider.
//
//     node run_models.cjs JOBS.json
//
// The same contract as run_models.py: JOBS.json lists {model, input, output}; inputs are
// float32 .npy arrays (C order), outputs are written as .npy; prints
// {"version": ..., "errors": {output: message}} as JSON.
'use strict';
const fs = require('node:fs');
const ort = require('onnxruntime-node');

function readNpy(path) {
  const buf = fs.readFileSync(path);
  const major = buf[6];
  const headerLength = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const offset = (major === 1 ? 10 : 12) + headerLength;
  const header = buf.toString('latin1', offset - headerLength, offset);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header)) {
    throw new Error(`${path}: expected a C-order float32 array`);
  }
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1]
    .split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + 4 * count);
  return new ort.Tensor('float32', new Float32Array(bytes), shape);
}

function writeNpy(path, tensor) {
  if (tensor.type !== 'float32') throw new Error(`output type ${tensor.type} is not float32`);
  const dims = tensor.dims.map(Number);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.writeUInt8(0x93, 0);
  prefix.write('NUMPY', 1, 'latin1');
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  const data = tensor.data;
  fs.writeFileSync(path, Buffer.concat([
    prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]));
}

async function main(jobsPath) {
  const jobs = JSON.parse(fs.readFileSync(jobsPath, 'utf8'));
  const errors = {};
  for (const job of jobs) {
    try {
      const session = await ort.InferenceSession.create(job.model, {
        executionProviders: ['cpu'], logSeverityLevel: 3,
      });
      const result = await session.run({ [session.inputNames[0]]: readNpy(job.input) });
      writeNpy(job.output, result[session.outputNames[0]]);
    } catch (error) {
      errors[job.output] = String(error && error.message ? error.message : error).split('\n')[0];
    }
  }
  const version = (ort.env.versions && ort.env.versions.node) || (ort.env.versions && ort.env.versions.common) || 'unknown';
  process.stdout.write(JSON.stringify({ version, errors }) + '\n');
}

main(process.argv[2]).catch((error) => {
  process.stderr.write(`error: ${error && error.message ? error.message : error}\n`);
  process.exit(1);
});
