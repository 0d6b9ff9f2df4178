#!/usr/bin/env bash
# Measures the build: a fresh build directory without ccache, every compiler call timed (CPU
# seconds, user + sys, so other load on the machine matters less than for wall time), then the
# slowest translation units and the totals. Extra arguments go to cmake's configure step
# (e.g. -DMODELBAKE_PCH=OFF to compare).
#   scripts/compile-times.sh [BUILD_DIR] [-DOPTION=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-times}
shift || true
rm -rf "$dir"
mkdir -p "$dir"
log=$(realpath "$dir")/compile-times.tsv
wrapper=$(realpath "$dir")/time-compiler.sh
cat >"$wrapper" <<WRAP
#!/usr/bin/env bash
# the launcher: runs the compiler under GNU time, appends "cpu_seconds<TAB>output" to the log
out=unknown; prev=
for a in "\$@"; do [[ "\$prev" == -o ]] && out=\$a; prev=\$a; done
exec /usr/bin/time -a -o "$log" -f "%U+%S	\$out" "\$@"
WRAP
chmod +x "$wrapper"
start=$(date +%s)
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODELBAKE_CCACHE=OFF \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$wrapper" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
end=$(date +%s)
python3 - "$log" "$((end - start))" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    cpu, _, out = line.rstrip("\n").partition("\t")
    if "+" in cpu:
        u, s = cpu.split("+")
        rows.append((float(u) + float(s), out.split("CMakeFiles/")[-1]))
rows.sort(reverse=True)
print(f"wall {sys.argv[2]} s; {len(rows)} compiler calls; {sum(r[0] for r in rows):.0f} CPU s")
for cpu, name in rows[:15]:
    print(f"{cpu:7.1f} s  {name}")
PY
