"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright; no browser download."""

import contextlib

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


@contextlib.contextmanager
def browser_page(viewport=DESKTOP, **context_options):
    """Yield (page, errors): errors collects console errors and uncaught exceptions."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=viewport, **context_options)
        page = context.new_page()
        errors = []
        page.on(
            "console",
            lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        try:
            yield page, errors
        finally:
            context.close()
            browser.close()
