#include "cli/app.hpp"

namespace mb::cli {

// Placeholder until the commands land; replaced by the owning issue's work.
void register_bundle_commands(CLI::App& app, Context& ctx) {
  add_command(app, "export", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'export' is not implemented yet")); };
  });
  add_command(app, "import", "(not yet available)")->callback([&ctx] {
    ctx.action = [&ctx] { return report_error(ctx, make_error(ErrorCategory::usage, "'import' is not implemented yet")); };
  });
}

}  // namespace mb::cli
