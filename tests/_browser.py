"""Headless Chromium for the browser tests (tests/test_docs.py, tests/test_jupyterlab.py), through Playwright.

Uses Debian's `chromium` package (installed with apt-get when missing and possible); the tests skip with a clear
reason when no Chromium can be had.
"""
import shutil
import subprocess
from contextlib import contextmanager
import pytest

ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']

def chromium():
    "Path of a Chromium binary, installing Debian's package when missing; None when that cannot be done."
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(name): return shutil.which(name)
    if shutil.which('apt-get'):
        try:
            subprocess.run(['apt-get', 'update', '-qq'], capture_output=True, timeout=300)
            subprocess.run(['apt-get', 'install', '-y', '-qq', 'chromium'], capture_output=True, timeout=600,
                           env={'DEBIAN_FRONTEND': 'noninteractive', 'PATH': '/usr/sbin:/usr/bin:/sbin:/bin'})
        except (subprocess.TimeoutExpired, OSError): pass
    return shutil.which('chromium')

@contextmanager
def launch():
    "A headless Chromium browser (Playwright); skips the test when Chromium cannot be had."
    exe = chromium()
    if exe is None: pytest.skip('Chromium is not installed and could not be installed with apt-get')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=ARGS)
        try: yield b
        finally: b.close()
