// Downloads through a hub endpoint with @huggingface/hub, for tests/integration/test_serve.py:
//   node serve_download.mjs HUB_URL REPO CACHE_DIR FILE OUT [TOKEN]
// snapshotDownload(REPO) into CACHE_DIR, then downloadFile(FILE) written to OUT.
// Prints {"folder": <snapshot folder>}.
import { writeFile } from "node:fs/promises";
import { snapshotDownload, downloadFile } from "@huggingface/hub";

const [hubUrl, repo, cacheDir, file, out, accessToken] = process.argv.slice(2);
if (!out) {
  console.error("usage: node serve_download.mjs HUB_URL REPO CACHE_DIR FILE OUT [TOKEN]");
  process.exit(2);
}
const folder = await snapshotDownload({ repo, hubUrl, cacheDir, accessToken });
const blob = await downloadFile({ repo, path: file, hubUrl, accessToken });
if (!blob) throw new Error(`downloadFile returned nothing for ${file}`);
await writeFile(out, Buffer.from(await blob.arrayBuffer()));
console.log(JSON.stringify({ folder }));
