import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { isUdnsError } from './errors.js';
import {
  MerkleTree,
  consistencyProof,
  emptyRoot,
  inclusionProof,
  leafHash,
  merkleRoot,
  nodeHash,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';

/*
 * The oracle: RFC 9162 §2.1 written out literally (recursion over slices of the data, its own
 * hashing), sharing nothing with merkle.ts, so both must agree for every size and pair.
 */
const sha = (...parts: Uint8Array[]) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
};
const k = (n: number) => {
  let power = 1;
  while (power * 2 < n) power *= 2;
  return power;
};
// Memoised by the data's identity and range so the oracle stays fast enough for every pair.
const memo = new Map<string, Buffer>();
function mth(data: Buffer[]): Buffer {
  const key = data.map((d) => d.toString('hex')).join('|');
  const known = memo.get(key);
  if (known) return known;
  let root: Buffer;
  if (data.length === 0) root = sha();
  else if (data.length === 1) root = sha(Buffer.from([0]), data[0]!);
  else {
    const split = k(data.length);
    root = sha(Buffer.from([1]), mth(data.slice(0, split)), mth(data.slice(split)));
  }
  memo.set(key, root);
  return root;
}
function path(m: number, data: Buffer[]): Buffer[] {
  if (data.length <= 1) return [];
  const split = k(data.length);
  return m < split
    ? [...path(m, data.slice(0, split)), mth(data.slice(split))]
    : [...path(m - split, data.slice(split)), mth(data.slice(0, split))];
}
function subproof(m: number, data: Buffer[], complete: boolean): Buffer[] {
  if (m === data.length) return complete ? [] : [mth(data)];
  const split = k(data.length);
  return m <= split
    ? [...subproof(m, data.slice(0, split), complete), mth(data.slice(split))]
    : [...subproof(m - split, data.slice(split), false), mth(data.slice(0, split))];
}

const MAX = 70;
const data = Array.from({ length: MAX }, (_, i) => Buffer.from(`leaf number ${i}`));
const leaves = data.map((d) => leafHash(d));
const roots = Array.from({ length: MAX + 1 }, (_, n) => mth(data.slice(0, n)));
const hex = (list: Buffer[]) => list.map((b) => b.toString('hex'));
const flipped = (proof: Buffer[], at: number) => proof.map((p, i) => (i === at ? Buffer.from(p.map((byte, j) => (j === 7 ? byte ^ 1 : byte))) : p));

describe('RFC 9162 hashes', () => {
  test('leaf, node and empty hashes carry the RFC prefixes', () => {
    expect(leafHash(Buffer.from('abc'))).toEqual(sha(Buffer.from([0]), Buffer.from('abc')));
    expect(nodeHash(leaves[0]!, leaves[1]!)).toEqual(sha(Buffer.from([1]), leaves[0]!, leaves[1]!));
    expect(emptyRoot().toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(merkleRoot([])).toEqual(emptyRoot());
  });

  test('a known vector: the CT test tree of eight leaves', () => {
    // The leaves of certificate-transparency-go's testonly tree (merkle test data of RFC 6962 implementations).
    const ctLeaves = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => leafHash(Buffer.from(h, 'hex')));
    const expected = [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    ];
    for (let n = 1; n <= 8; n += 1) expect(merkleRoot(ctLeaves.slice(0, n)).toString('hex')).toBe(expected[n - 1]);
  });
});

describe('functional proofs against the RFC oracle, every size 0..70', () => {
  test('roots', () => {
    for (let n = 0; n <= MAX; n += 1) expect(merkleRoot(leaves.slice(0, n))).toEqual(roots[n]);
  });

  test('inclusion proofs equal PATH and verify; tampered ones and wrong places do not', () => {
    for (let n = 1; n <= MAX; n += 1) {
      for (let m = 0; m < n; m += 1) {
        const proof = inclusionProof(leaves, m, n);
        expect(hex(proof)).toEqual(hex(path(m, data.slice(0, n))));
        expect(verifyInclusion(leaves[m]!, m, n, proof, roots[n]!)).toBe(true);
        for (let at = 0; at < proof.length; at += 1) expect(verifyInclusion(leaves[m]!, m, n, flipped(proof, at), roots[n]!)).toBe(false);
        expect(verifyInclusion(leafHash(Buffer.from('another leaf')), m, n, proof, roots[n]!)).toBe(false);
        expect(verifyInclusion(leaves[m]!, m, n, [...proof, leaves[0]!], roots[n]!)).toBe(false);
        if (proof.length > 0) expect(verifyInclusion(leaves[m]!, m, n, proof.slice(0, -1), roots[n]!)).toBe(false);
        expect(verifyInclusion(leaves[m]!, n, n, proof, roots[n]!)).toBe(false);
        for (const other of [m - 1, m + 1]) {
          if (other >= 0 && other < n) expect(verifyInclusion(leaves[m]!, other, n, proof, roots[n]!)).toBe(false);
        }
        // A proof for one size must not prove inclusion in a tree of another size (unless it is that size's proof too).
        for (const size of [n - 1, n + 1, n * 2]) {
          if (size <= m || size > MAX) continue;
          const same = hex(path(m, data.slice(0, size))).join() === hex(proof).join();
          expect(verifyInclusion(leaves[m]!, m, size, proof, roots[size]!)).toBe(same);
        }
      }
    }
  });

  test('consistency proofs equal PROOF and verify; tampered ones and wrong sizes do not', () => {
    for (let n = 0; n <= MAX; n += 1) {
      for (let m = 0; m <= n; m += 1) {
        const proof = consistencyProof(leaves, m, n);
        const expected = m === 0 || m === n ? [] : subproof(m, data.slice(0, n), true);
        expect(hex(proof)).toEqual(hex(expected));
        expect(verifyConsistency(m, n, roots[m]!, roots[n]!, proof)).toBe(true);
        for (let at = 0; at < proof.length; at += 1) expect(verifyConsistency(m, n, roots[m]!, roots[n]!, flipped(proof, at))).toBe(false);
        // (The empty tree is a prefix of every tree: nothing binds the second root when m = 0.)
        if (m !== n && m > 0) {
          expect(verifyConsistency(m, n, roots[m]!, roots[n === MAX ? n - 1 : n + 1]!, proof)).toBe(false);
          expect(verifyConsistency(m, n, roots[m - 1]!, roots[n]!, proof)).toBe(false);
          expect(verifyConsistency(m, n, roots[m]!, roots[n]!, [...proof, leaves[0]!])).toBe(false);
        }
        if (proof.length > 0) expect(verifyConsistency(m, n, roots[m]!, roots[n]!, proof.slice(0, -1))).toBe(false);
        for (const [first, second] of [[m - 1, n], [m + 1, n], [m, n - 1], [m, n + 1]] as const) {
          if (first < 0 || second > MAX || first > second || (first === m && second === n)) continue;
          const honest = first === 0 || first === second ? [] : subproof(first, data.slice(0, second), true);
          const same = hex(honest).join() === hex(proof).join();
          expect(verifyConsistency(first, second, roots[first]!, roots[second]!, proof)).toBe(same);
        }
      }
    }
  });

  test('rejects bad arguments instead of answering nonsense', () => {
    const expectBadRequest = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        expect(isUdnsError(error, 'bad_request')).toBe(true);
        return;
      }
      throw new Error('did not throw');
    };
    expectBadRequest(() => inclusionProof(leaves.slice(0, 5), 5));
    expectBadRequest(() => inclusionProof(leaves.slice(0, 5), 0, 6));
    expectBadRequest(() => inclusionProof(leaves.slice(0, 5), -1));
    expectBadRequest(() => consistencyProof(leaves.slice(0, 5), 3, 6));
    expectBadRequest(() => consistencyProof(leaves.slice(0, 5), 4, 3));
    expectBadRequest(() => new MerkleTree().append(Buffer.alloc(31)));
    expectBadRequest(() => new MerkleTree(leaves.slice(0, 3)).root(4));
    expect(verifyInclusion(leaves[0]!, 0, 0, [], emptyRoot())).toBe(false);
    expect(verifyInclusion(leaves[0]!, -1, 2, [leaves[1]!], roots[2]!)).toBe(false);
    expect(verifyInclusion(leaves[0]!, 0.5, 2, [leaves[1]!], roots[2]!)).toBe(false);
    expect(verifyInclusion(leaves[0]!, 0, 2, [Buffer.alloc(33)], roots[2]!)).toBe(false);
    expect(verifyInclusion(leaves[0]!, 0, 1, [], roots[1]!)).toBe(true);
    expect(verifyConsistency(3, 2, roots[3]!, roots[2]!, [])).toBe(false);
    expect(verifyConsistency(0, 5, Buffer.alloc(32), roots[5]!, [])).toBe(false);
    expect(verifyConsistency(4, 4, roots[4]!, roots[5]!, [])).toBe(false);
    expect(verifyConsistency(4, 5, roots[4]!, roots[5]!, [])).toBe(false);
  });
});

describe('MerkleTree', () => {
  test('equals the functional versions for every earlier size while it grows', () => {
    const inclusion = new Map<string, string[]>();
    const consistency = new Map<string, string[]>();
    for (let size = 0; size <= MAX; size += 1) {
      for (let m = 0; m < size; m += 1) inclusion.set(`${m}/${size}`, hex(inclusionProof(leaves, m, size)));
      for (let first = 0; first <= size; first += 1) consistency.set(`${first}/${size}`, hex(consistencyProof(leaves, first, size)));
    }
    const tree = new MerkleTree();
    for (let n = 1; n <= MAX; n += 1) {
      tree.append(leaves[n - 1]!);
      expect(tree.size).toBe(n);
      expect(tree.root()).toEqual(roots[n]);
      for (let size = 0; size <= n; size += 1) {
        expect(tree.root(size)).toEqual(roots[size]);
        for (let m = 0; m < size; m += 1) expect(hex(tree.inclusionProof(m, size))).toEqual(inclusion.get(`${m}/${size}`));
        for (let first = 0; first <= size; first += 1) expect(hex(tree.consistencyProof(first, size))).toEqual(consistency.get(`${first}/${size}`));
      }
    }
  });

  test('a large tree answers proofs for old sizes that verify', () => {
    const count = 20_003;
    const many = Array.from({ length: count }, (_, i) => leafHash(Buffer.from(String(i))));
    const tree = new MerkleTree(many);
    const root = tree.root();
    expect(root).toEqual(merkleRoot(many));
    for (const [index, size] of [[0, count], [count - 1, count], [16_383, 16_385], [12_345, 19_999]] as const) {
      expect(verifyInclusion(many[index]!, index, size, tree.inclusionProof(index, size), tree.root(size))).toBe(true);
    }
    for (const [first, second] of [[1, count], [16_384, count], [7_777, 19_999], [count - 1, count]] as const) {
      expect(verifyConsistency(first, second, tree.root(first), tree.root(second), tree.consistencyProof(first, second))).toBe(true);
    }
  });

  test('proofs are copies: changing one does not change the tree', () => {
    const tree = new MerkleTree(leaves.slice(0, 9));
    const before = tree.root();
    for (const p of tree.inclusionProof(0)) p.fill(0);
    expect(tree.root()).toEqual(before);
  });
});
