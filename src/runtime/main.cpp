// modelbake-verify: placeholder entry point until the runtime verifier lands (issue 6).
#include <cstdio>

int main() {
  std::fprintf(stderr, "modelbake-verify: not built yet\n");
  return 2;
}
