"""Where a token is refreshed: app tokens and tenant tokens, kept fresh and served."""
