"""The ``imagegate`` command line (`imagegate.cli.app`) and its ``demo`` (`imagegate.cli.demo`)."""
