#include "cli/app.hpp"

namespace mb::cli {

// Placeholder until the commands land; replaced by the owning issue's work.
void register_cache_commands(CLI::App& app, Context& ctx) {
  add_command(app, "ls", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'ls' is not implemented yet")); };
  });
  add_command(app, "du", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'du' is not implemented yet")); };
  });
  add_command(app, "gc", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'gc' is not implemented yet")); };
  });
  add_command(app, "rm", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'rm' is not implemented yet")); };
  });
}

}  // namespace mb::cli
