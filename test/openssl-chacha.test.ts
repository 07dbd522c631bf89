import { randomBytes } from 'node:crypto';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { describe, expect, it } from 'vitest';
import { chacha20poly1305 as openssl } from '../src/backup/openssl-chacha.js';

// noble's own cipher, by its file: the bare specifier is what the age library gets swapped (scripts/aliases.mjs).
const require = createRequire(import.meta.url);
const noblePath = require.resolve('@noble/ciphers/chacha.js', {
  paths: [require.resolve('age-encryption').replace(/dist\/index\.js$/, '')],
});

describe('ChaCha20-Poly1305 from OpenSSL, in place of noble’s in the age library', () => {
  it('gives the bytes noble gives, and reads what noble wrote (empty, short, a whole age chunk, odd sizes)', async () => {
    const noble = ((await import(noblePath)) as typeof import('@noble/ciphers/chacha.js')).chacha20poly1305;
    for (const size of [0, 1, 15, 16, 17, 32, 1000, 64 * 1024, 64 * 1024 + 3]) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const plain = randomBytes(size);
      const sealed = openssl(key, nonce).encrypt(plain);
      expect(Buffer.from(sealed).equals(Buffer.from(noble(key, nonce).encrypt(plain)))).toBe(true);
      expect(Buffer.from(openssl(key, nonce).decrypt(sealed)).equals(plain)).toBe(true);
      expect(Buffer.from(noble(key, nonce).decrypt(sealed)).equals(plain)).toBe(true);
    }
  });

  it('refuses altered bytes, a wrong key and a text shorter than its tag, as noble does (age then tries the next key)', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const sealed = Buffer.from(openssl(key, nonce).encrypt(Buffer.from('a row of customer data')));
    const flipped = Buffer.from(sealed);
    flipped[3]! ^= 1;
    expect(() => openssl(key, nonce).decrypt(flipped)).toThrow();
    expect(() => openssl(randomBytes(32), nonce).decrypt(sealed)).toThrow();
    expect(() => openssl(key, nonce).decrypt(sealed.subarray(0, 15))).toThrow();
  });

  it('leaves the caller’s buffers alone: age reuses its chunk buffer and nonce after each call', () => {
    const key = randomBytes(32);
    const nonce = new Uint8Array(12);
    const chunk = Buffer.alloc(64, 7);
    const first = openssl(key, nonce).encrypt(chunk);
    chunk.fill(9);
    nonce[10] = 1;
    const opened = openssl(key, new Uint8Array(12)).decrypt(first);
    expect(Buffer.from(opened).equals(Buffer.alloc(64, 7))).toBe(true);
    // Arrays of their own, as noble's are: no view into a shared pool that .buffer would expose.
    for (const out of [first, opened, openssl(key, nonce).encrypt(new Uint8Array(0))]) {
      expect(out.byteOffset).toBe(0);
      expect(out.buffer.byteLength).toBe(out.length);
    }
    // noble's optional output buffer is not something age uses; asked for, it is refused rather than ignored.
    expect(() => openssl(key, nonce).encrypt(chunk, new Uint8Array(80))).toThrow(/output/);
  });

  it('is what the age library runs in the tests, as in the bundle: its header and every chunk through OpenSSL', async () => {
    // Count node's chacha20-poly1305 ciphers while age encrypts and decrypts (the ES module bindings of node:crypto
    // follow its CommonJS object once synced).
    const crypto = require('node:crypto') as typeof import('node:crypto');
    const real = { cipher: crypto.createCipheriv, decipher: crypto.createDecipheriv };
    const made = { cipher: 0, decipher: 0 };
    crypto.createCipheriv = ((alg: string, ...rest: unknown[]) => {
      if (alg === 'chacha20-poly1305') made.cipher++;
      return (real.cipher as (...a: unknown[]) => unknown)(alg, ...rest);
    }) as typeof crypto.createCipheriv;
    crypto.createDecipheriv = ((alg: string, ...rest: unknown[]) => {
      if (alg === 'chacha20-poly1305') made.decipher++;
      return (real.decipher as (...a: unknown[]) => unknown)(alg, ...rest);
    }) as typeof crypto.createDecipheriv;
    syncBuiltinESMExports();
    try {
      const age = await import('age-encryption');
      const id = await age.generateX25519Identity();
      const e = new age.Encrypter();
      e.addRecipient(await age.identityToRecipient(id));
      const text = 'x'.repeat(64 * 1024 + 1);
      const box = await e.encrypt(text);
      const d = new age.Decrypter();
      d.addIdentity(id);
      expect(await d.decrypt(box, 'text')).toBe(text);
      // The file key's wrapping and two payload chunks, each way.
      expect(made).toEqual({ cipher: 3, decipher: 3 });
    } finally {
      crypto.createCipheriv = real.cipher;
      crypto.createDecipheriv = real.decipher;
      syncBuiltinESMExports();
    }
  });
});
