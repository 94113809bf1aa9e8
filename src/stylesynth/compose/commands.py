"""Click commands for the pixel-level tools; cli.py adds every command in `commands`."""

commands: list = []
