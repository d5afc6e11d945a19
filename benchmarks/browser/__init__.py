"""Lip sync as a browser shows it: avsync, the enqueue-time baseline and a perfectly paced
calibration source played to headless Chromium over WebRTC on 127.0.0.1
(``python -m benchmarks.browser``; the test ``tests/demo/test_browser.py`` runs a short one)."""
