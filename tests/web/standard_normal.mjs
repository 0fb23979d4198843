// Test driver for tests/web/test_numpy_random.py: imports the page's module (argv[2]) and
// writes, as little-endian bytes on stdout, either the draws of each [seed as decimal text,
// count] case read on stdin (one float32 stream), or with stdin "tables" its ziggurat tables
// (ki uint32, wi float32, fi float32).
import { readFileSync } from 'node:fs';

const module = await import(process.argv[2]);
const request = readFileSync(0, 'utf8').trim();
const arrays = request === 'tables'
  ? [module.ZIGGURAT.ki, module.ZIGGURAT.wi, module.ZIGGURAT.fi]
  : JSON.parse(request).map(([seed, count]) => module.standardNormal(seed, count));
process.stdout.write(Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))));
