"""One door into the cache (issue 19, docs/SECURITY.md): outside src/store/cache_door.cpp no
code hands a cache path to a raw file-system call. A planted link or FIFO below the cache root
is only ever refused if every operation goes through CacheDoor (openat2/O_NOFOLLOW relative to
verified folder descriptors); one `::open(layout.blob_path(...))` anywhere reopens the hole.

The rule, per statement of every source file under src/:
  * a *cache path* is a call of a CacheLayout path method (blob_path, object_path, tmp_dir,
    snapshot_file, ...) or a local variable initialised from one (followed transitively; a
    `MB_ASSIGN(DoorTempTree dir, ...)` of a cache path makes `dir` one too, so the files of
    import's and pull's temp folders count, and so does a member assigned one, `m_temp = ...`);
  * a statement that holds a cache path must not also call a raw file-system function
    (::open, ::stat, ::unlink, std::filesystem, read_file, hash_file, FileLock::acquire, ...);
    calls on the door (`door().read_file(...)`, `door.unlink(...)`) are what it should do.
Files that still read the cache by path are listed in ALLOWED with the reason; the list only
shrinks (a listed file without a violation fails the test too).
"""
import os
import re
import unittest

SRC = os.path.join(os.environ.get("MODELBAKE_SOURCE_DIR",
                                  os.path.join(os.path.dirname(__file__), "..", "..")), "src")

# The door itself, and the layout that builds the strings it is given.
EXEMPT = {"store/cache_door.cpp", "store/layout.cpp", "store/layout.hpp"}

# file -> why it may still pass cache paths to raw calls. Shrink, never grow.
ALLOWED = {
}

LAYOUT_METHODS = ("root", "repo_dir", "blob_path", "ref_path", "snapshot_dir", "snapshot_file",
                  "trees_file", "private_dir", "legacy_private_dir", "objects_dir", "object_path",
                  "tmp_dir", "locks_dir", "lock_path", "snapshot_meta_path", "new_temp_path")
# `ctx.lock_path()` (cli) is the project's modelbake.lock, not a cache path.
LAYOUT_CALL = re.compile(r"(?<!\bctx)(?:\.|->)(?:%s)\(" % "|".join(LAYOUT_METHODS))
RAW_CALL = re.compile(
    r"(?<![\w.>])(?:::(?:open|openat|stat|lstat|unlink|unlinkat|rename|link|symlink|mkdir|chmod|"
    r"opendir|realpath|readlink|truncate|utime|utimes)\(|"
    r"fs::\w+|std::filesystem::\w+|std::ifstream|std::ofstream|fopen\(|"
    r"read_file\(|write_file_atomic\(|open_read\(|hash_file\(|make_dirs\(|copy_file_synced\(|"
    r"replace_symlink\(|FileLock::(?:try_)?acquire\(|fsync_dir\(|AtomicFile::create\(|TempTree\b)")
ASSIGN = re.compile(r"(?:(?:std::string|auto|const std::string&?|std::string&)\s+(\w+)\s*(?:=|\{|\()|"
                    r"MB_ASSIGN\(\s*(?:const\s+)?(?:DoorTempTree|std::string|auto)\s+(\w+)\s*,|"
                    r"^\s*(m_\w+)\s*=(?!=))")


def sources():
    for dirpath, _, files in os.walk(SRC):
        for name in sorted(files):
            if name.endswith((".cpp", ".hpp")):
                yield os.path.relpath(os.path.join(dirpath, name), SRC)


def statements(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)  # messages may name anything
    line = 1
    start = 0
    for i, ch in enumerate(text):
        if ch in ";{}":
            yield line, text[start:i + 1]
            line += text.count("\n", start, i + 1)
            start = i + 1


def violations(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        text = f.read()
    stmts = list(statements(text))
    tainted = set()
    changed = True
    while changed:  # variables initialised from cache paths, transitively
        changed = False
        for _, s in stmts:
            m = ASSIGN.search(s)
            name = m and (m.group(1) or m.group(2) or m.group(3))
            if not m or name in tainted:
                continue
            rhs = s[m.end():]
            if LAYOUT_CALL.search(rhs) or any(re.search(r"\b%s\b" % v, rhs) for v in tainted):
                tainted.add(name)
                changed = True
    out = []
    for line, s in stmts:
        has_path = LAYOUT_CALL.search(s) or any(re.search(r"\b%s\b" % v, s) for v in tainted)
        raw = RAW_CALL.search(s)
        if has_path and raw:
            out.append("%s:%d: %s with a cache path: %s" % (rel, line, raw.group(0),
                                                             " ".join(s.split())[:160]))
    return out


class CacheDoorLint(unittest.TestCase):
    def test_no_cache_path_reaches_a_raw_file_system_call(self):
        found = []
        clean_but_allowed = []
        for rel in sources():
            if rel in EXEMPT:
                continue
            v = violations(rel)
            if rel in ALLOWED:
                if not v:
                    clean_but_allowed.append(rel)
                continue
            found += v
        self.assertEqual(found, [], "go through CacheDoor (store/cache_door.hpp):\n" +
                         "\n".join(found))
        self.assertEqual(clean_but_allowed, [], "remove these from ALLOWED")

    def test_the_rule_catches_what_it_is_for(self):
        # The checker itself: each of these must be flagged, the door calls must not.
        bad = [
            'int fd = ::open(store.layout().blob_path(t, r, e).c_str(), O_RDONLY);',
            'std::string p = layout.tmp_dir() + "/x"; ::unlink(p.c_str());',
            'std::string a = m_layout.object_path(s); std::string b = a; auto d = hash_file(b);',
            'for (auto& e : fs::directory_iterator(cache.private_dir())) {}',
            'MB_ASSIGN(auto l, FileLock::acquire(m_layout.lock_path("x"), LockMode::shared));',
            'MB_ASSIGN(DoorTempTree dir, DoorTempTree::create(door, layout.tmp_dir() + "/p")); '
            'std::string b = dir.path() + "/blobs"; MB_TRY(write_file_atomic(b + "/x", s));',
            'm_temp = m_store.new_temp_path("push"); '
            'm_fd = UniqueFd(::open(m_temp.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600));',
        ]
        good = [
            'MB_ASSIGN(auto fd, store.layout().door().open_file(store.layout().blob_path(t, r, e), O_RDONLY));',
            'auto text = m_layout.door().read_file(m_layout.ref_path(t, r, v), 128);',
            'std::string p = layout.tmp_dir(); MB_TRY(door.unlink(p));',
            'MB_ASSIGN(DoorTempTree dir, DoorTempTree::create(door, layout.tmp_dir() + "/p")); '
            'std::string b = dir.path() + "/blobs"; MB_TRY(door.write_file_atomic(b + "/x", s));',
        ]
        import tempfile
        global SRC
        saved = SRC
        with tempfile.TemporaryDirectory() as d:
            SRC = d
            try:
                for i, snippet in enumerate(bad + good):
                    with open(os.path.join(d, "s%d.cpp" % i), "w") as f:
                        f.write("void f() {\n%s\n}\n" % snippet)
                    flagged = bool(violations("s%d.cpp" % i))
                    self.assertEqual(flagged, i < len(bad), snippet)
            finally:
                SRC = saved


if __name__ == "__main__":
    unittest.main()
