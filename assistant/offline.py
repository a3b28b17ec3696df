"""Nothing leaves the machine: the switches that turn off the network use and telemetry of the
libraries the assistant loads. `assistant/__init__.py` applies them, so every way in (the
`assistant` command, `python -m assistant.cli`, the tests, eval/) has them before any of those
libraries is imported; the user exports nothing. tests/test_offline.py checks with strace that
`assistant serve` and `assistant ask` open no socket off the machine and write nothing outside
the project."""

from __future__ import annotations

import os

SWITCHES = {
    # onnxruntime >= 1.29 on Linux and macOS starts Microsoft's 1DS telemetry when the runtime
    # initialises (import): a device id and an event database under ~/.cache/Microsoft, uploads to
    # mobile.events.data.microsoft.com. This is its documented full opt-out, read once at that
    # initialisation; onnxruntime.disable_telemetry_events() comes too late and leaves the uploader
    # running (docs/Privacy.md and core/platform/telemetry_1ds.cc in microsoft/onnxruntime).
    "ORT_DISABLE_TELEMETRY": "1",
    # huggingface_hub, transformers and sentence-transformers: no hub look-up, no telemetry; the
    # models are files on this machine (packages and the index's models folder).
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}
"""Set, not defaulted: a `0` left in the user's shell must not turn any of them back on."""


def switch_off() -> None:
    """Put SWITCHES into this process's environment (and so into every process it starts)."""
    os.environ.update(SWITCHES)
