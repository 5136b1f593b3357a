"""Pure formatting of what the bot (and the CLI) shows, one module per command group; no I/O.

`common` holds what every answer shares (Telegram's message limit, splitting, number formats);
functions return plain-text lines, `common.pre` wraps a table for Telegram's HTML mode.
"""
