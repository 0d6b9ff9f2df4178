#include "cli/app.hpp"

namespace mb::cli {

// Placeholder until the commands land; replaced by the owning issue's work.
void register_verify_commands(CLI::App& app, Context& ctx) {
  add_command(app, "verify", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'verify' is not implemented yet")); };
  });
  add_command(app, "status", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'status' is not implemented yet")); };
  });
}

}  // namespace mb::cli
