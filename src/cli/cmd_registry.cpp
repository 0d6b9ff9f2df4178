#include "cli/app.hpp"

namespace mb::cli {

// Placeholder until the commands land; replaced by the owning issue's work.
void register_registry_commands(CLI::App& app, Context& ctx) {
  add_command(app, "push", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'push' is not implemented yet")); };
  });
  add_command(app, "pull", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'pull' is not implemented yet")); };
  });
}

}  // namespace mb::cli
