"""The sandbox's latency (settings `latency`, `latency_jitter`): every platform API call waits as
a faraway platform's would, concurrently with the others; the control API answers at once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

TOKEN = "/cgi-bin/service/get_suite_token"


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_calls_wait_the_latency_and_its_jitter_but_not_each_other(wecom):
    body = {"suite_id": wecom.app_id, "suite_secret": wecom.app["secret"]}
    body["suite_ticket"] = wecom.latest_ticket()
    assert timed(lambda: wecom.call(TOKEN, body)) < 0.2  # answers at once by default

    response = wecom.control("/settings", {"latency": 0.3, "latency_jitter": 0.2})
    assert response.status_code == 200 and response.json()["settings"]["latency"] == 0.3
    took = [timed(lambda: wecom.call(TOKEN, body)) for _ in range(4)]
    assert all(0.3 <= t < 0.5 + 0.3 for t in took), took
    assert max(took) - min(took) > 0.005  # the jitter is drawn per call

    # Ten calls at once end in about one latency, not ten: the platform is far, not slow.
    started = time.perf_counter()
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: wecom.call(TOKEN, body), range(10)))
    assert all(a["errcode"] == 0 for a in answers if "errcode" in a)
    assert time.perf_counter() - started < 2.5

    assert timed(lambda: wecom.control("/settings", method="GET")) < 0.2  # control: no wait
    wecom.control("/settings", {"latency": 0, "latency_jitter": 0})
    assert timed(lambda: wecom.call(TOKEN, body)) < 0.2


def test_a_latency_out_of_range_is_refused(wecom):
    for bad in (-1, 61, "fast", True):
        response = wecom.control("/settings", {"latency": bad})
        assert response.status_code == 400, bad
        assert "latency" in response.json()["error"]
    assert wecom.control("/settings", method="GET").json()["settings"]["latency"] == 0
