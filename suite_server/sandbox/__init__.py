"""The sandbox: an offline simulator of WeCom (suites) and the WeChat Open Platform (components)
that our server and its tests talk to over real HTTP.

Start here: `app.py` (the web app, SandboxServer, `serve` behind `suite-server sandbox`); the
platform rules are in `wecom.py` and `openplatform.py` (WeCom's provider token, 代开发 QR links and
gettoken in `customized.py`), their routes in `wecom_api.py` and `open_api.py`; pushes in
`events.py` (what) and `pushes.py` (how); install pages in `install_pages.py`,
`customized_install.py` (the 代开发 QR page) and `approvals.py`; the control API in `control.py`
(actions in `actions.py`, provider accounts in `providers.py`, the console's URL check in
`url_check.py`); WeCom licenses in `licenses.py` (their API `license_api.py`, actions
`license_control.py`), paid-app orders and editions in `orders.py` (`order_api.py`,
`order_control.py`); memory in `state.py`.
"""

from suite_server.sandbox.app import SandboxServer, create_sandbox_app, serve

__all__ = ["SandboxServer", "create_sandbox_app", "serve"]
