"""suite-server: WeCom suite and WeChat Open Platform component server for ISVs."""
