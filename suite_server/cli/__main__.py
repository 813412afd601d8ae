"""`python -m suite_server.cli`: the same as the `suite-server` command."""

from suite_server.cli import main

main()
