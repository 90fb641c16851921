"""Headless Chromium driven over the DevTools protocol on a pipe, with the standard library only, so
that a test can open the built site at a real screen width and measure what a reader would see.

The protocol's messages are JSON, each ended by a NUL byte; Chromium reads them from its file
descriptor 3 and writes to its 4 (`--remote-debugging-pipe`)."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--remote-debugging-pipe"]


def chromium_binary() -> str | None:
    """Debian's `chromium` (what .ci/run installs), else another name it goes by."""
    return next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)


class Browser:
    """One Chromium process; `open` gives a page (a tab) of a given window size."""

    def __init__(self, binary: str) -> None:
        self._profile = tempfile.TemporaryDirectory()
        reads, self._out = os.pipe()
        self._in, writes = os.pipe()
        # Chromium wants the pipe on descriptors 3 and 4 exactly: bash moves them there, from numbers
        # above 9 so that neither redirection overwrites the other's source.
        to_chromium, from_chromium = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (reads, writes))
        os.close(reads)
        os.close(writes)
        self._process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_chromium} 4>&{from_chromium}', "bash", binary, *FLAGS,
             f"--user-data-dir={self._profile.name}", "about:blank"],
            pass_fds=(to_chromium, from_chromium), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chromium)
        os.close(from_chromium)
        self._buffer = b""
        self._events: list[dict] = []
        self._next_id = 0

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its debugging pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict:
        """Send one command and wait for its answer, keeping the events that come first."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_for(self, method: str, session: str) -> None:
        """Until the page sends that event (kept ones first)."""
        while True:
            event = self._events.pop(0) if self._events else self._read()
            if event.get("method") == method and event.get("sessionId") == session:
                return

    def open(self, width: int = 1280, height: int = 900) -> Page:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", session, width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
        self.send("Page.enable", session)
        return Page(self, session)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except RuntimeError:
            pass
        os.close(self._out)
        os.close(self._in)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """A tab: go to a URL, run JavaScript in it, photograph it."""

    def __init__(self, browser: Browser, session: str) -> None:
        self._browser, self._session = browser, session

    def goto(self, url: str) -> None:
        """Load the URL and wait for its load event (the page's scripts have run by then)."""
        self._browser.send("Page.navigate", self._session, url=url)
        self._browser.wait_for("Page.loadEventFired", self._session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise), as JSON would give it."""
        result = self._browser.send("Runtime.evaluate", self._session, expression=expression, returnByValue=True,
                                    awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True) -> None:
        """A PNG of the page, as long as its content when full_page (up to 20,000 pixels)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            width, height = self.evaluate("[innerWidth, Math.min(document.documentElement.scrollHeight, 20000)]")
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": width, "height": height,
                                                            "scale": 1})
        data = self._browser.send("Page.captureScreenshot", self._session, **params)["data"]
        path.write_bytes(base64.b64decode(data))
