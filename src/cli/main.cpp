#include "cli/app.hpp"

int main(int argc, char** argv) { return mb::cli::run(argc, argv); }
