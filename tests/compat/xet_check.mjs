// The official JS client against the test hub's Xet CAS, for tests/integration/test_compat_xet.py:
//   node xet_check.mjs HUB_URL REPO FILE OUT TRUTH_JSON [TOKEN]
// downloadFile (its Xet path: probe, token, v2 reconstruction, multi-range xorb fetches)
// written to OUT; then the package's hasher over the CAS's own chunks (TRUTH_JSON, from
// /_admin/xet/<id>): chunk hashes (blake3-jit keyed with the data key, as its chunker does),
// xorb hashes (xorbHash) and the file hash (fileHash). Prints them as JSON.
import { readFile, writeFile } from "node:fs/promises";
import { downloadFile } from "@huggingface/hub";
import { xorbHash, fileHash, hashToHex, hexToBytes } from "@huggingface/xetchunk-wasm";
import { Hasher } from "@huggingface/blake3-jit";

const [hubUrl, repo, file, out, truthPath, accessToken] = process.argv.slice(2);
if (!truthPath) {
  console.error("usage: node xet_check.mjs HUB_URL REPO FILE OUT TRUTH_JSON [TOKEN]");
  process.exit(2);
}
const blob = await downloadFile({ repo, path: file, hubUrl, accessToken });
if (!blob) throw new Error(`downloadFile returned nothing for ${file}`);
const bytes = new Uint8Array(await blob.arrayBuffer());
await writeFile(out, bytes);

// hub-docs docs/xet/hashing.md DATA_KEY
const DATA_KEY = new Uint8Array([102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151,
  24, 28, 157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41]);
const truth = JSON.parse(await readFile(truthPath, "utf8"));
const chunks = [];
let pos = 0;
for (const [, length] of truth.chunks) {
  chunks.push(hashToHex(Hasher.newKeyed(DATA_KEY).update(bytes.subarray(pos, pos + length)).finalize()));
  pos += length;
}
const asChunks = (list) => list.map(([h, length]) => ({ hash: hexToBytes(h), length }));
const xorbs = {};
for (const [id, list] of Object.entries(truth.xorbs)) xorbs[id] = hashToHex(xorbHash(asChunks(list)));
const fileId = hashToHex(fileHash(asChunks(truth.chunks)));
console.log(JSON.stringify({ chunks, xorbs, file: fileId, size: bytes.length }));
