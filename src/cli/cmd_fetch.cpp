#include "cli/app.hpp"

namespace mb::cli {

// Placeholder until the commands land; replaced by the owning issue's work.
void register_fetch_commands(CLI::App& app, Context& ctx) {
  add_command(app, "lock", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'lock' is not implemented yet")); };
  });
  add_command(app, "fetch", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'fetch' is not implemented yet")); };
  });
}

}  // namespace mb::cli
