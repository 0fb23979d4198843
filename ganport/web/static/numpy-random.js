// numpy's default_rng(seed).standard_normal(count, dtype=float32), bit for bit, so a page seed
// is `ganport sample --seed`'s seed: SeedSequence (numpy/random/bit_generator.pyx) seeds
// PCG64 (numpy/random/src/pcg64/pcg64.h), whose 64-bit outputs numpy hands out as two
// 32-bit halves, which feed numpy's float32 ziggurat (random_standard_normal_f in
// numpy/random/src/distributions/distributions.c). Plain Number maths, no BigInt in the
// loop: 6,400 draws take about a millisecond. tests/web/test_numpy_random.py compares it
// with numpy for many seeds and sizes.

// ---- SeedSequence(seed).generate_state(4, uint64), pool size 4, no spawn key ----
const INIT_A = 0x43b0d7e5;
const MULT_A = 0x931e8875;
const INIT_B = 0x8b51f9dd;
const MULT_B = 0x58f38ded;
const MIX_MULT_L = 0xca01f9dd;
const MIX_MULT_R = 0x4973f715;
const POOL_SIZE = 4;

/** A seed as numpy takes an int: a non-negative integer (Number, BigInt or decimal text). */
export function toSeed(seed) {
  let value;
  if (typeof seed === 'bigint') value = seed;
  else if (typeof seed === 'number' && Number.isSafeInteger(seed)) value = BigInt(seed);
  else if (typeof seed === 'string' && /^\s*\d+\s*$/.test(seed)) value = BigInt(seed.trim());
  if (value === undefined || value < 0n) {
    throw new RangeError(`a seed is a non-negative integer, not ${String(seed)}`);
  }
  return value;
}

/** The seed's uint32 words, lowest first ([0] for 0), as numpy's _coerce_to_uint32_array. */
function entropyWords(seed) {
  const words = [];
  let rest = seed;
  do {
    words.push(Number(rest & 0xffffffffn));
    rest >>= 32n;
  } while (rest > 0n);
  return words;
}

/** SeedSequence(seed).generate_state(words) as uint32 words (two per numpy uint64, low first). */
export function seedSequenceState(seed, words) {
  const entropy = entropyWords(toSeed(seed));
  let hashConst = INIT_A;
  const hashmix = (value) => {
    value = (value ^ hashConst) >>> 0;
    hashConst = Math.imul(hashConst, MULT_A) >>> 0;
    value = Math.imul(value, hashConst) >>> 0;
    return (value ^ (value >>> 16)) >>> 0;
  };
  const mix = (x, y) => {
    const result = (Math.imul(MIX_MULT_L, x) - Math.imul(MIX_MULT_R, y)) >>> 0;
    return (result ^ (result >>> 16)) >>> 0;
  };
  const pool = new Array(POOL_SIZE);
  for (let i = 0; i < POOL_SIZE; i++) pool[i] = hashmix(i < entropy.length ? entropy[i] : 0);
  for (let src = 0; src < POOL_SIZE; src++) {
    for (let dst = 0; dst < POOL_SIZE; dst++) {
      if (src !== dst) pool[dst] = mix(pool[dst], hashmix(pool[src]));
    }
  }
  for (let src = POOL_SIZE; src < entropy.length; src++) {
    for (let dst = 0; dst < POOL_SIZE; dst++) pool[dst] = mix(pool[dst], hashmix(entropy[src]));
  }
  let outConst = INIT_B;
  const state = new Uint32Array(words);
  for (let i = 0; i < words; i++) {
    let value = (pool[i % POOL_SIZE] ^ outConst) >>> 0;
    outConst = Math.imul(outConst, MULT_B) >>> 0;
    value = Math.imul(value, outConst) >>> 0;
    state[i] = (value ^ (value >>> 16)) >>> 0;
  }
  return state;
}

// ---- PCG64: a 128-bit LCG with the XSL-RR output, in eight 16-bit limbs (low first) ----
// Limb products are below 2^32 and a column sums at most eight of them, so every step is
// exact in doubles.
const limbs = (high, low) => {
  const out = [];
  for (const word of [low, high]) for (let i = 0; i < 4; i++) out.push(Number((word >> BigInt(16 * i)) & 0xffffn));
  return out;
};
const MULTIPLIER = limbs(2549297995355413924n, 4865540595714422341n); // PCG_DEFAULT_MULTIPLIER_128

function limbsOfWords(high, low) {
  // Two numpy uint64s (each as two uint32 words, low word first) → 8 limbs.
  const words = [low[0], low[1], high[0], high[1]];
  return words.flatMap((w) => [w & 0xffff, w >>> 16]);
}

class PCG64 {
  constructor(seed) {
    const w = seedSequenceState(seed, 8); // generate_state(4, uint64)
    const initState = limbsOfWords([w[0], w[1]], [w[2], w[3]]);
    const initSeq = limbsOfWords([w[4], w[5]], [w[6], w[7]]);
    // pcg_setseq_128_srandom_r: inc = initseq << 1 | 1; state = 0; step; state += initstate; step.
    this.inc = new Array(8);
    let carry = 1;
    for (let k = 0; k < 8; k++) {
      const shifted = initSeq[k] * 2 + carry;
      this.inc[k] = shifted & 0xffff;
      carry = shifted >>> 16;
    }
    this.state = new Array(8).fill(0);
    this.step();
    carry = 0;
    for (let k = 0; k < 8; k++) {
      const sum = this.state[k] + initState[k] + carry;
      this.state[k] = sum & 0xffff;
      carry = sum >>> 16;
    }
    this.step();
    this.hasHalf = false; // numpy's has_uint32 / uinteger buffer
    this.half = 0;
  }

  /** state = state · multiplier + inc (mod 2^128). */
  step() {
    const s = this.state;
    const next = new Array(8);
    let carry = 0;
    for (let k = 0; k < 8; k++) {
      let sum = carry + this.inc[k];
      for (let i = 0; i <= k; i++) sum += s[i] * MULTIPLIER[k - i];
      const low = sum % 65536;
      next[k] = low;
      carry = (sum - low) / 65536;
    }
    this.state = next;
  }

  /** The next 64-bit output as [low, high] uint32 halves. */
  next64() {
    this.step();
    const s = this.state;
    // XSL-RR: (high64 ^ low64) rotated right by the state's top 6 bits.
    let lo = ((s[0] | (s[1] << 16)) ^ (s[4] | (s[5] << 16))) >>> 0;
    let hi = ((s[2] | (s[3] << 16)) ^ (s[6] | (s[7] << 16))) >>> 0;
    let rot = s[7] >>> 10;
    if (rot >= 32) {
      [lo, hi] = [hi, lo];
      rot -= 32;
    }
    if (rot === 0) return [lo, hi];
    return [((lo >>> rot) | (hi << (32 - rot))) >>> 0, ((hi >>> rot) | (lo << (32 - rot))) >>> 0];
  }

  /** numpy's next_uint32 on a 64-bit generator: the low half now, the high half next time. */
  next32() {
    if (this.hasHalf) {
      this.hasHalf = false;
      return this.half;
    }
    const [lo, hi] = this.next64();
    this.hasHalf = true;
    this.half = hi;
    return lo;
  }

  /** numpy's next_float: the top 24 bits of a uint32 over 2^24. */
  nextFloat() {
    return (this.next32() >>> 8) * (1 / 16777216);
  }
}

// ---- numpy's float32 ziggurat ----
// numpy stores its 256-layer tables in ziggurat_constants.h; they are the Marsaglia–Tsang
// construction below (r, and v the area of each layer), rounded to float32 (wi, fi) and
// to the nearest integer (ki). Built here in doubles: every entry lies at least 3.7e-11
// (relative) from a rounding boundary, far beyond double rounding errors, and the tests
// check the tables' hash against numpy's.
const R = 3.6541528853610088; // ziggurat_nor_r
const V = 0.004928673233974658; // R·f(R) + ∫_R^∞ f(x) dx, f(x) = exp(-x²/2)
const M1 = 2 ** 23; // the 23 bits of a draw that pick a point in a layer
const R_F = Math.fround(R);
const INV_R_F = Math.fround(1 / R);

function zigguratTables() {
  const ki = new Uint32Array(256);
  const wi = new Float32Array(256);
  const fi = new Float32Array(256);
  let dn = R;
  let tn = R;
  const q = V / Math.exp(-0.5 * dn * dn);
  ki[0] = Math.round((dn / q) * M1);
  ki[1] = 0;
  wi[0] = q / M1;
  wi[255] = dn / M1;
  fi[0] = 1;
  fi[255] = Math.exp(-0.5 * dn * dn);
  for (let i = 254; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(V / dn + Math.exp(-0.5 * dn * dn)));
    ki[i + 1] = Math.round((dn / tn) * M1);
    tn = dn;
    fi[i] = Math.exp(-0.5 * dn * dn);
    wi[i] = dn / M1;
  }
  return { ki, wi, fi };
}

export const ZIGGURAT = zigguratTables();

/** random_standard_normal_f: every float operation rounded to float32 where C's is. */
function standardNormalF32(rng) {
  const { ki, wi, fi } = ZIGGURAT;
  const f = Math.fround;
  for (;;) {
    const r = rng.next32();
    const idx = r & 0xff;
    const sign = (r >>> 8) & 1;
    const rabs = (r >>> 9) & 0x7fffff;
    let x = f(rabs * wi[idx]);
    if (sign) x = -x;
    if (rabs < ki[idx]) return x; // 99.3% of draws
    if (idx === 0) {
      for (;;) {
        // 1 - U (log1p(-U)) avoids log(0), as numpy does.
        const xx = f(-INV_R_F * f(Math.log1p(-rng.nextFloat())));
        const yy = f(-f(Math.log1p(-rng.nextFloat())));
        if (f(yy + yy) > f(xx * xx)) return (rabs >>> 8) & 1 ? -f(R_F + xx) : f(R_F + xx);
      }
    }
    if (f(f(f(fi[idx - 1] - fi[idx]) * rng.nextFloat()) + fi[idx]) < Math.exp(-0.5 * x * x)) return x;
  }
}

/** numpy.random.default_rng(seed).standard_normal(count, dtype=numpy.float32). */
export function standardNormal(seed, count) {
  const rng = new PCG64(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = standardNormalF32(rng);
  return out;
}
