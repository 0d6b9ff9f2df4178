// Prints what @huggingface/hub's scanCacheDir sees in a cache, normalised to plain JSON
// (repos sorted by id, revisions by commit, files by path) for tests/integration/test_compat_hfjs.py.
import { scanCacheDir } from "@huggingface/hub";

const cacheDir = process.argv[2];
if (!cacheDir) {
  console.error("usage: node scan_cache.mjs CACHE_DIR");
  process.exit(2);
}
const info = await scanCacheDir(cacheDir);
const repos = info.repos
  .map((repo) => ({
    repo: repo.id.name,
    type: repo.id.type,
    revisions: repo.revisions
      .map((rev) => ({
        commit: rev.commitOid,
        refs: [...rev.refs].sort(),
        files: rev.files
          .map((f) => ({ path: f.path.slice(rev.path.length + 1), size: f.blob.size }))
          .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
      }))
      .sort((a, b) => (a.commit < b.commit ? -1 : 1)),
  }))
  .sort((a, b) => (a.repo < b.repo ? -1 : 1));
console.log(JSON.stringify({ repos, warnings: info.warnings.map((w) => String(w.message ?? w)) }, null, 2));
