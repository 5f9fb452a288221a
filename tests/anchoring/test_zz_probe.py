import os
import signal
import time
from pathlib import Path

import pytest
from test_worker_process import _alive, _serve


@pytest.mark.parametrize("n", range(4))
def test_probe(harness, spawn, n):
    h = harness()
    api, _port, worker = _serve(h, spawn)
    t0 = time.monotonic()
    os.kill(api.pid, signal.SIGKILL)
    api.popen.wait()
    while _alive(worker) and time.monotonic() - t0 < 40:
        time.sleep(0.05)
    took = time.monotonic() - t0
    print(f"\nDIED after {took:.2f}")
    if took > 2:
        Path(f"/tmp/fasttests-probe-{n}.log").write_text(api.log())
