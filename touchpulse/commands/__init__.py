"""CLI subcommands of the core package."""
