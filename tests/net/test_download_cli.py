#!/usr/bin/python3
"""`ivl download` and `ivl models` run as a user would, against tests/net/hub_server.py:
a download paused by Ctrl+C (SIGINT) and resumed by running it again, which transfers only
the missing bytes; the catalog before and after; errors and usage."""
import filecmp
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

IVL = os.environ["IVL"]
HERE = os.path.dirname(os.path.abspath(__file__))


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok -", what)


def main():
    tmp = tempfile.mkdtemp(prefix="ivl-cli-")
    repo = os.path.join(tmp, "server-repo")
    server = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "hub_server.py"),
                               "--write-repo", repo],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline().split()[1])
    endpoint = "http://127.0.0.1:%d" % port

    def control(q):
        return json.load(urllib.request.urlopen(endpoint + q))

    env = dict(os.environ, HF_ENDPOINT=endpoint, HF_HOME=os.path.join(tmp, "hf"),
               XDG_DATA_HOME=os.path.join(tmp, "data"), LC_ALL="C.UTF-8")
    env.pop("HF_TOKEN", None)
    env.pop("HF_HUB_CACHE", None)
    work = os.path.join(tmp, "cwd")
    os.makedirs(work)

    def ivl(*args):
        return subprocess.run([IVL, *args], cwd=work, env=env, capture_output=True, text=True,
                              timeout=60)

    target = os.path.join(tmp, "data", "ivl", "models", "InternVL3-1B")
    files = [os.path.relpath(os.path.join(d, f), repo)
             for d, _, fs in os.walk(repo) for f in fs]

    # Paused by Ctrl+C mid-download.
    control("/_throttle?bps=250000")
    proc = subprocess.Popen([IVL, "download", "InternVL3-1B"], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    part = os.path.join(target, "model.safetensors.incomplete")
    deadline = time.time() + 20
    while time.time() < deadline and not (os.path.exists(part) and os.path.getsize(part) > 60000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    print(err)
    check(proc.returncode == 1, "Ctrl+C ends the download with status 1")
    check("resume" in err, "and says how to resume")
    check(os.path.getsize(part) > 0, "keeping the partial file")
    check(not os.path.exists(os.path.join(target, "config.json")),
          "a paused model is not complete (no config.json)")

    models = ivl("models")
    line = [l for l in models.stdout.splitlines() if l.startswith("InternVL3-1B ")][0]
    check(line.rstrip().endswith("-"), "ivl models: the paused model is not installed")

    # Resumed by running the same command: only the missing bytes travel.
    partial = {f: os.path.getsize(os.path.join(target, f + ".incomplete"))
               for f in files if os.path.exists(os.path.join(target, f + ".incomplete"))}
    done_before = [f for f in files if os.path.exists(os.path.join(target, f))]
    control("/_reset")
    again = ivl("download", "InternVL3-1B")
    print(again.stderr)
    check(again.returncode == 0, "the rerun succeeds")
    check("%" in again.stderr and "\r" not in again.stderr,
          "progress as plain lines when stderr is not a terminal")
    check(target in again.stdout, "and says where the model is")
    for f in files:
        check(filecmp.cmp(os.path.join(repo, f), os.path.join(target, f), shallow=False),
              "%s is exact" % f)
    sent = control("/_stats")["bytes_sent"]
    for f, n in partial.items():
        size = os.path.getsize(os.path.join(repo, f))
        check(sent.get(f, 0) == size - n,
              "%s: resumed with %d of %d bytes (had %d)" % (f, sent.get(f, 0), size, n))
    for f in done_before:
        check(sent.get(f, 0) == 0, "%s was complete and not fetched again" % f)

    models = ivl("models")
    print(models.stdout)
    check(models.returncode == 0, "ivl models succeeds")
    line = [l for l in models.stdout.splitlines() if l.startswith("InternVL3-1B ")][0]
    check(line.rstrip().endswith(target), "ivl models: InternVL3-1B installed at " + target)
    listed = json.loads(ivl("models", "--json").stdout)
    names = [m["name"] for m in listed["models"]]
    sizes = ("1B", "2B", "8B", "9B", "14B", "38B", "78B")
    check(names == ["InternVL3-%s" % s for s in sizes] + ["InternVL3-%s-hf" % s for s in sizes],
          "ivl models --json lists the seven models and their seven -hf twins")
    check([m["layout"] for m in listed["models"]] == ["original"] * 7 + ["hf"] * 7,
          "each with its layout")
    m1 = listed["models"][0]
    check(m1["installed"] == target and m1["download_bytes"] == 1800000000 and
          m1["memory"]["bf16"] > m1["memory"]["int8"] > m1["memory"]["4bit"] > 0,
          "with installed path, size and memory per precision")
    check(listed["models"][6]["installed"] is None, "78B is not installed")

    # A ./pretrained folder is where downloads go, as in the upstream quick start.
    os.makedirs(os.path.join(work, "pretrained"))
    r = ivl("download", "OpenGVLab/InternVL3-2B")
    check(r.returncode == 0 and os.path.exists(
        os.path.join(work, "pretrained", "InternVL3-2B", "config.json")),
        "ivl download OpenGVLab/InternVL3-2B goes to ./pretrained/InternVL3-2B")
    r = ivl("download", "--dir", os.path.join(tmp, "elsewhere"), "--revision",
            "0123456789abcdef0123456789abcdef01234567", "InternVL3-8B")
    check(r.returncode == 0 and os.path.exists(os.path.join(tmp, "elsewhere", "config.json")),
          "--dir and --revision")

    # A model the official client left in the Hugging Face cache is used in place.
    snap = os.path.join(tmp, "hf", "hub", "models--OpenGVLab--InternVL3-14B", "snapshots", "c0")
    os.makedirs(snap)
    with open(os.path.join(snap, "config.json"), "w") as f:
        f.write("{}")
    r = ivl("download", "InternVL3-14B")
    check(r.returncode == 0 and snap in r.stdout and
          not os.path.exists(os.path.join(tmp, "data", "ivl", "models", "InternVL3-14B")),
          "a model in the Hugging Face cache is not downloaded again")

    r = ivl("download", "gated/model")
    check(r.returncode == 1 and "HF_TOKEN" in r.stderr, "a gated repo says how to set a token")
    r = ivl("download", "--revision", "nope", "InternVL3-1B")
    check(r.returncode == 1 and "revision" in r.stderr, "an unknown revision is named")
    check(ivl("download").returncode == 2, "no model named: usage error")

    server.stdin.close()
    server.wait(timeout=10)
    subprocess.run(["rm", "-rf", tmp])


main()
