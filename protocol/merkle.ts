import { createHash, hash } from 'node:crypto';
import { UdnsError } from './errors.js';

/*
 * Merkle trees exactly as RFC 9162 §2.1 (Certificate Transparency v2) defines them, used twice in
 * issue 11: over the chunks of a paid file (plain and sealed commitments, SaleProof) and over the
 * ledger's entries (signed tree heads, inclusion and consistency proofs).
 *
 *   MTH({})       = SHA-256()
 *   MTH({d0})     = SHA-256(0x00 || d0)                       (leafHash)
 *   MTH(D[n])     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])) (nodeHash), k the largest power
 *                   of two smaller than n
 *
 * The functions below take leaf hashes (already `leafHash(data)`), so a caller can keep 32 bytes
 * per leaf instead of the data. Bad arguments (an index outside the tree, a size larger than the
 * leaves given) throw UdnsError('bad_request'); verification never throws, it answers false.
 */

/** Bytes of a SHA-256 hash, so of every node of the tree. */
export const MERKLE_HASH_BYTES = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const EMPTY_ROOT = createHash('sha256').digest();

/** The root of the empty tree, SHA-256 of nothing. */
export function emptyRoot(): Buffer {
  return Buffer.from(EMPTY_ROOT);
}

/** Below this, copying the data behind its prefix and hashing in one call beats a Hash object. */
const ONE_SHOT_BYTES = 4096;

/** RFC 9162 leaf hash: SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Buffer {
  if (data.length > ONE_SHOT_BYTES) return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
  const input = Buffer.allocUnsafe(1 + data.length);
  input[0] = 0x00;
  input.set(data, 1);
  return hash('sha256', input, 'buffer');
}

/** RFC 9162 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  // crypto.hash (one call, no Hash object) is about 1.5× faster here: trees hash millions of these.
  const input = Buffer.allocUnsafe(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return hash('sha256', input, 'buffer');
}

/** MTH over leaf hashes (RFC 9162 §2.1.1); the empty list gives SHA-256 of nothing. */
export function merkleRoot(leafHashes: readonly Uint8Array[]): Buffer {
  return new MerkleTree(leafHashes).root();
}

/**
 * The inclusion proof (audit path, RFC 9162 §2.1.3.1) of leaf `index` in the tree of the first
 * `treeSize` leaves (default: all), bottom-up.
 * @throws UdnsError bad_request when index ≥ treeSize or treeSize > leafHashes.length
 */
export function inclusionProof(leafHashes: readonly Uint8Array[], index: number, treeSize = leafHashes.length): Buffer[] {
  checkSize(treeSize, leafHashes.length, 'tree size');
  return new MerkleTree(leafHashes.slice(0, treeSize)).inclusionProof(index);
}

/**
 * The consistency proof (RFC 9162 §2.1.4.1) between the trees of the first `first` and `second`
 * leaves; empty when first is 0 or first = second.
 * @throws UdnsError bad_request unless 0 ≤ first ≤ second ≤ leafHashes.length
 */
export function consistencyProof(leafHashes: readonly Uint8Array[], first: number, second: number): Buffer[] {
  checkSize(second, leafHashes.length, 'second tree size');
  return new MerkleTree(leafHashes.slice(0, second)).consistencyProof(first, second);
}

/**
 * RFC 9162 §2.1.3.2: true when `proof` shows that the leaf whose hash is `leaf` (a leaf hash,
 * not the data) sits at `index` in the tree of `treeSize` leaves whose root is `root`.
 */
export function verifyInclusion(leaf: Uint8Array, index: number, treeSize: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!isSize(index) || !isSize(treeSize) || index >= treeSize) return false;
  if (!isHash(leaf) || !isHash(root) || !proof.every(isHash)) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/**
 * RFC 9162 §2.1.4.2: true when `proof` shows that the tree of `first` leaves with root
 * `firstRoot` is a prefix of the tree of `second` leaves with root `secondRoot`. For first = 0 the
 * proof must be empty and firstRoot the empty root; for first = second, empty and the roots equal.
 */
export function verifyConsistency(first: number, second: number, firstRoot: Uint8Array, secondRoot: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!isSize(first) || !isSize(second) || first > second) return false;
  if (!isHash(firstRoot) || !isHash(secondRoot) || !proof.every(isHash)) return false;
  if (first === 0) return proof.length === 0 && EMPTY_ROOT.equals(firstRoot);
  if (first === second) return proof.length === 0 && Buffer.from(firstRoot).equals(secondRoot);
  if (proof.length === 0) return false;
  const path: Uint8Array[] = isPowerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(firstRoot) && sr.equals(secondRoot);
}

/** The hashes of one level of the tree, 32 bytes each, in one growing buffer (no object per hash). */
class HashLevel {
  private bytes = Buffer.alloc(16 * MERKLE_HASH_BYTES);
  count = 0;

  push(hash: Uint8Array): void {
    if ((this.count + 1) * MERKLE_HASH_BYTES > this.bytes.length) {
      const grown = Buffer.alloc(this.bytes.length * 2);
      this.bytes.copy(grown);
      this.bytes = grown;
    }
    this.bytes.set(hash, this.count * MERKLE_HASH_BYTES);
    this.count += 1;
  }

  /** A view (not a copy) of hash `index`. */
  at(index: number): Buffer {
    return this.bytes.subarray(index * MERKLE_HASH_BYTES, (index + 1) * MERKLE_HASH_BYTES);
  }
}

/**
 * An append-only Merkle tree in memory. It keeps every perfect subtree's hash, level by level
 * (levels[h][i] = MTH of leaves [i·2^h, (i+1)·2^h)), about 64 bytes per leaf: append is O(log n)
 * hashes, root(size) O(log n), and proofs for any earlier size O(log² n) hashes at worst.
 */
export class MerkleTree {
  private readonly levels: HashLevel[] = [new HashLevel()];

  constructor(leafHashes?: Iterable<Uint8Array>) {
    if (leafHashes) for (const leaf of leafHashes) this.append(leaf);
  }

  /** How many leaves the tree has. */
  get size(): number {
    return this.levels[0]!.count;
  }

  /** Appends one leaf hash (32 bytes: `leafHash(data)`). */
  append(leaf: Uint8Array): void {
    if (!isHash(leaf)) throw new UdnsError('bad_request', `a Merkle leaf hash is ${MERKLE_HASH_BYTES} bytes, got ${leaf.length}: pass leafHash(data)`);
    let index = this.size;
    this.levels[0]!.push(leaf);
    // Every time the new node completes a pair, their parent is a new perfect subtree one level up.
    for (let height = 0; index % 2 === 1; height += 1) {
      const level = this.levels[height]!;
      if (!this.levels[height + 1]) this.levels.push(new HashLevel());
      this.levels[height + 1]!.push(nodeHash(level.at(index - 1), level.at(index)));
      index = (index - 1) / 2;
    }
  }

  /** MTH of the first `size` leaves (default: all). @throws UdnsError bad_request when size > this.size */
  root(size = this.size): Buffer {
    checkSize(size, this.size, 'tree size');
    return Buffer.from(this.subtree(0, size));
  }

  /** Inclusion proof of leaf `index` in the tree of the first `size` leaves (default: all). */
  inclusionProof(index: number, size = this.size): Buffer[] {
    checkSize(size, this.size, 'tree size');
    if (!isSize(index) || index >= size) throw new UdnsError('bad_request', `leaf ${index} is not in a tree of ${size} leaves: pick an index below the tree size`);
    const proof: Buffer[] = [];
    this.path(index, 0, size, proof);
    return proof;
  }

  /** Consistency proof between the first `first` and `second` (default: all) leaves. */
  consistencyProof(first: number, second = this.size): Buffer[] {
    checkSize(second, this.size, 'second tree size');
    if (!isSize(first) || first > second) throw new UdnsError('bad_request', `no consistency proof from ${first} to ${second} leaves: the first size must be between 0 and the second`);
    const proof: Buffer[] = [];
    if (first > 0 && first < second) this.subproof(first, 0, second, true, proof);
    return proof;
  }

  /** PATH(m, D[start:end]) of RFC 9162 §2.1.3.1, for m relative to start, appended bottom-up. */
  private path(m: number, start: number, end: number, out: Buffer[]): void {
    const n = end - start;
    if (n <= 1) return;
    const k = largestPowerOfTwoBelow(n);
    if (m < k) {
      this.path(m, start, start + k, out);
      out.push(Buffer.from(this.subtree(start + k, end)));
    } else {
      this.path(m - k, start + k, end, out);
      out.push(Buffer.from(this.subtree(start, start + k)));
    }
  }

  /** SUBPROOF(m, D[start:end], b) of RFC 9162 §2.1.4.1. */
  private subproof(m: number, start: number, end: number, complete: boolean, out: Buffer[]): void {
    const n = end - start;
    if (m === n) {
      if (!complete) out.push(Buffer.from(this.subtree(start, end)));
      return;
    }
    const k = largestPowerOfTwoBelow(n);
    if (m <= k) {
      this.subproof(m, start, start + k, complete, out);
      out.push(Buffer.from(this.subtree(start + k, end)));
    } else {
      this.subproof(m - k, start + k, end, false, out);
      out.push(Buffer.from(this.subtree(start, start + k)));
    }
  }

  /**
   * MTH(D[start:end]) for a range the RFC's recursion visits: start is a multiple of a power of
   * two at least end - start, so the left part is always a stored perfect subtree and only the
   * right edge recurses (O(log n) hashes).
   */
  private subtree(start: number, end: number): Buffer {
    const n = end - start;
    if (n === 0) return EMPTY_ROOT;
    if (isPowerOfTwo(n) && start % n === 0) return this.levels[Math.round(Math.log2(n))]!.at(start / n);
    const k = largestPowerOfTwoBelow(n);
    return nodeHash(this.subtree(start, start + k), this.subtree(start + k, end));
  }
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

function isSize(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function isHash(value: Uint8Array): boolean {
  return value instanceof Uint8Array && value.length === MERKLE_HASH_BYTES;
}

function checkSize(size: number, available: number, what: string): void {
  if (!isSize(size) || size > available) throw new UdnsError('bad_request', `${what} ${size} is not between 0 and ${available}: ask for a size the tree has reached`);
}
