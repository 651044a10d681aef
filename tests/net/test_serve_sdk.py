#!/usr/bin/python3
"""The official OpenAI Node SDK against `ivl serve` (sdk/test-sdk.mjs) on loopback ports.
The SDK is installed by `npm ci` in tests/net/sdk, which tools/test.sh runs; without it (or
without node) the test is skipped, saying so."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_common import HERE, IVL, Server, check, run_main, tiny_model  # noqa: E402

SDK = os.path.join(HERE, "sdk")


def main():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node or not os.path.exists(os.path.join(SDK, "node_modules", "openai",
                                                   "package.json")):
        print("SKIP: the openai npm package is not installed: run `npm ci` in tests/net/sdk "
              "(tools/test.sh does)")
        sys.exit(77)
    model = tiny_model()
    answer = json.loads(subprocess.run([IVL, "run", "-m", model, "--backend", "cpu", "--json",
                                        "--max-new-tokens", "12", "Hello! Who are you?"],
                                       capture_output=True, text=True, check=True).stdout)["text"]
    server = Server(model)
    keyed = Server(model, "--api-key", "s3cret")
    out = subprocess.run([node, os.path.join(SDK, "test-sdk.mjs"), server.base, keyed.base,
                          answer], capture_output=True, text=True, timeout=240)
    print(out.stdout + out.stderr)
    check(out.returncode == 0, "the OpenAI Node SDK's checks pass")
    server.stop()
    keyed.stop()


if __name__ == "__main__":
    run_main(main)
