"""Command-line shell: parses options, calls the library, reports errors in one line."""

from __future__ import annotations

import sys

import click

from . import __version__
from .errors import StylesynthError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="stylesynth")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Synthesize images from the representations of a deep convolutional network."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


from .compose.commands import commands as _compose_commands  # noqa: E402

for _command in _compose_commands:
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the click group, turning library errors into one stderr line."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="stylesynth", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("stylesynth: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        # Usage errors: click's own message, on one line, exit 2.
        click.echo(f"stylesynth: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except StylesynthError as e:
        if debug:
            raise
        click.echo(f"stylesynth: error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("stylesynth: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
