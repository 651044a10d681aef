#!/usr/bin/python3
"""`ivl serve` as an OpenAI client sees it, over loopback: the answers equal `ivl run`'s
(text, an image, two images, a video clip, streamed or whole, the streamed text the same as
the whole one), a follow-up that continues the conversation equals the same request answered
from scratch and reuses the cache, stop sequences, finish reasons, penalties, logit_bias and
logprobs, refused parameters with the parameter named, errors shaped as OpenAI's, the model
routes and plain completions, a client that hangs up does not hold the server, and SIGTERM
ends it cleanly. Each case gives the exact request and the expected status, shape and text."""
import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_common import (DATA, HERE, IVL, Server, check, error_of, run_main,  # noqa: E402
                          streamed_text, tiny_model)

IMAGE = os.path.join(HERE, "..", "..", "data", "demo", "red-panda.jpg")
VIDEO = os.path.join(DATA, "engine", "video_0.mov")
Q = "Hello! Who are you?"


def ivl_run(model, *args):
    out = subprocess.run([IVL, "run", "-m", model, "--backend", "cpu", "--json", *args],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit("ivl run failed: " + out.stderr)
    return json.loads(out.stdout)["text"]


def token_id(model, text):
    out = subprocess.run([IVL, "tokenize", "-m", model, text], capture_output=True, text=True,
                         check=True)
    ids = json.loads(out.stdout)
    assert len(ids) == 1, ids
    return ids[0]


def image_url():
    with open(IMAGE, "rb") as f:
        return "data:image/jpeg;base64," + base64.b64encode(f.read()).decode()


def user(content):
    return [{"role": "user", "content": content}]


def answers_as_ivl_run(server, model):
    whole = server.chat(user(Q), max_tokens=12)
    choice = whole["choices"][0]
    check(choice["message"]["content"] == ivl_run(model, "--max-new-tokens", "12", Q),
          "a text answer equals ivl run's")
    check(choice["finish_reason"] == "length" and whole["usage"]["completion_tokens"] == 12,
          "finish_reason length and usage at max_tokens")
    check(whole["object"] == "chat.completion" and whole["model"] == "tiny", "the body's fields")

    events = server.stream(user(Q), max_tokens=12, stream_options={"include_usage": True})
    check(events[-1] == "[DONE]", "the stream ends with [DONE]")
    text, chunks = streamed_text(events)
    check(chunks[0]["choices"][0]["delta"].get("role") == "assistant",
          "the first delta names the role")
    check(text == choice["message"]["content"],
          "the streamed pieces make exactly the whole answer (no leading space): %r" % text)
    check(chunks[-2]["choices"][0]["finish_reason"] == "length",
          "a stream cut by max_tokens ends with finish_reason length")
    check(chunks[-1]["usage"]["completion_tokens"] == 12, "include_usage adds a usage chunk")

    content = [{"type": "image_url", "image_url": {"url": image_url()}},
               {"type": "text", "text": "Describe the image."}]
    with_image = server.chat(user(content), max_tokens=8)
    check(with_image["choices"][0]["message"]["content"] ==
          ivl_run(model, "--max-new-tokens", "8", "--max-num", "2", "--image", IMAGE,
                  "Describe the image."),
          "an answer about a data: URL image equals ivl run --image's")

    two = [{"type": "text", "text": "Compare them."},
           {"type": "image_url", "image_url": {"url": image_url()}},
           {"type": "image_url", "image_url": image_url()}]  # the bare-string form, too
    check(server.chat(user(two), max_tokens=6)["choices"][0]["message"]["content"] ==
          ivl_run(model, "--max-new-tokens", "6", "--max-num", "2", "--image", IMAGE, "--image",
                  IMAGE, "--separate", "Compare them."),
          "two images are separate images, as ivl run --separate")

    with open(VIDEO, "rb") as f:
        video = "data:video/quicktime;base64," + base64.b64encode(f.read()).decode()
    clip = [{"type": "video_url", "video_url": {"url": video}},
            {"type": "text", "text": "What happens?"}]
    check(server.chat(user(clip), max_tokens=6)["choices"][0]["message"]["content"] ==
          ivl_run(model, "--max-new-tokens", "6", "--video", VIDEO, "--segments", "8",
                  "What happens?"),
          "a video_url clip (8 frames) equals ivl run --video's answer")
    return content, with_image


def continues_conversations(server, content, with_image):
    # A follow-up continues the session just used (its KV cache); the same request again after
    # an unrelated one is answered from scratch: both must give the same answer.
    with_image = server.chat(user(content), max_tokens=8)  # the session to continue
    a1 = with_image["choices"][0]["message"]["content"]
    follow = [{"role": "user", "content": content}, {"role": "assistant", "content": a1},
              {"role": "user", "content": "And its colours?"}]
    continued = server.chat(follow, max_tokens=8)
    server.chat([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                max_tokens=2)
    scratch = server.chat(follow, max_tokens=8)
    check(continued["choices"][0]["message"]["content"] ==
          scratch["choices"][0]["message"]["content"],
          "a continued conversation equals the same one from scratch")
    cached = continued["usage"]["prompt_tokens_details"]["cached_tokens"]
    # the history's image and text come from the cache (the answer may re-tokenize otherwise)
    check(cached >= 0.9 * with_image["usage"]["prompt_tokens"] and
          scratch["usage"]["prompt_tokens_details"]["cached_tokens"] < cached,
          "the follow-up reuses the cache (%d cached tokens of %d), the unrelated one does not"
          " (%d)" % (cached, continued["usage"]["prompt_tokens"],
                     scratch["usage"]["prompt_tokens_details"]["cached_tokens"]))

    # The streamed answer sent back as history continues the session too.
    text, chunks = streamed_text(server.stream(user("Tell me a story."), max_tokens=10,
                                               stream_options={"include_usage": True}))
    first = chunks[-1]["usage"]["prompt_tokens"]
    follow = [{"role": "user", "content": "Tell me a story."},
              {"role": "assistant", "content": text}, {"role": "user", "content": "More."}]
    again = server.chat(follow, max_tokens=4)
    # the first prompt at least (the tiny model's odd answers may re-tokenize otherwise)
    check(again["usage"]["prompt_tokens_details"]["cached_tokens"] >= first,
          "a streamed answer sent back as history hits the session cache (%d of %d cached)"
          % (again["usage"]["prompt_tokens_details"]["cached_tokens"],
             again["usage"]["prompt_tokens"]))


def stops(server):
    whole = server.chat(user(Q), max_tokens=16)["choices"][0]["message"]["content"]
    # a stop sequence from the middle of the answer, likely across token boundaries
    k = len(whole) // 2
    stop = whole[k - 2:k + 3]
    expected = whole[:whole.index(stop)].rstrip()
    for body_stop in (stop, ["never-there", stop]):
        got = server.chat(user(Q), max_tokens=16, stop=body_stop)["choices"][0]
        check(got["message"]["content"] == expected and got["finish_reason"] == "stop",
              "stop %r cuts the answer before it, finish_reason stop: %r"
              % (body_stop, got["message"]["content"]))
        events = server.stream(user(Q), max_tokens=16, stop=body_stop)
        text, chunks = streamed_text(events)
        check(text == expected and stop not in text and
              chunks[-1]["choices"][0]["finish_reason"] == "stop",
              "streamed, stop %r cuts the same text and ends with finish_reason stop"
              % (body_stop,))
    got = server.chat(user(Q), max_tokens=16, stop="never-there")["choices"][0]
    check(got["message"]["content"] == whole and got["finish_reason"] == "length",
          "a stop sequence that never comes changes nothing")


def parameters(server, model):
    hello = token_id(model, "hello")
    got = server.chat(user(Q), max_tokens=5, logit_bias={str(hello): 100})["choices"][0]
    check(got["message"]["content"] == "hello" * 5,
          "logit_bias +100 on the token \"hello\" makes the greedy answer hello x5: %r"
          % got["message"]["content"])
    plain = server.chat(user(Q), max_tokens=60, logit_bias={str(hello): 100})
    penalized = server.chat(user(Q), max_tokens=60, logit_bias={str(hello): 100},
                            frequency_penalty=2)
    n = penalized["choices"][0]["message"]["content"].count("hello")
    check(plain["choices"][0]["message"]["content"] == "hello" * 60 and 0 < n < 60,
          "frequency_penalty 2 lowers the biased token 2 per use until others win (%d of 60)"
          % n)
    same = server.chat(user(Q), max_tokens=5, logit_bias={str(hello): 100},
                       presence_penalty=2)["choices"][0]["message"]["content"]
    check(same == "hello" * 5, "presence_penalty lowers once, not per use: still hello x5")

    got = server.chat(user(Q), max_tokens=4, logprobs=True, top_logprobs=3)["choices"][0]
    content = got["logprobs"]["content"]
    check(len(content) == 4 and all(len(c["top_logprobs"]) == 3 for c in content),
          "logprobs: one entry a token, each with 3 top_logprobs")
    check(all(c["token"] == c["top_logprobs"][0]["token"] and
              abs(c["logprob"] - c["top_logprobs"][0]["logprob"]) < 1e-6 and
              c["logprob"] <= 0 and c["top_logprobs"][0]["logprob"] >=
              c["top_logprobs"][1]["logprob"] >= c["top_logprobs"][2]["logprob"]
              for c in content),
          "greedy tokens are the most likely ones, log-probabilities <= 0 and sorted")
    check("".join(c["token"] for c in content).strip() == got["message"]["content"],
          "the logprobs' tokens spell the answer")
    events = server.stream(user(Q), max_tokens=4, logprobs=True, top_logprobs=1)
    _, chunks = streamed_text(events)
    streamed = [c for ch in chunks if ch["choices"] and ch["choices"][0].get("logprobs")
                for c in ch["choices"][0]["logprobs"]["content"]]
    check([c["token"] for c in streamed] == [c["token"] for c in content],
          "streamed chunks carry the same logprobs")

    # without a seed each request draws its own
    sampled = {server.chat(user(Q), max_tokens=16, temperature=1.0)["choices"][0]["message"]
               ["content"] for _ in range(3)}
    check(len(sampled) > 1, "sampling without a seed does not repeat itself")
    seeded = {server.chat(user(Q), max_tokens=8, temperature=0.9, top_p=0.9, seed=5)
              ["choices"][0]["message"]["content"] for _ in range(2)}
    check(len(seeded) == 1, "sampling with a seed repeats")

    ok = server.chat(user(Q), max_tokens=2, response_format={"type": "text"}, tools=[],
                     tool_choice="none", n=1)
    check(ok["choices"][0]["finish_reason"] == "length",
          "response_format text, no tools and n 1 are accepted")

    refused = [({"n": 2}, "n"),
               ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
               ({"tool_choice": "auto"}, "tool_choice"),
               ({"response_format": {"type": "json_object"}}, "response_format"),
               ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
               ({"top_logprobs": 2}, "top_logprobs"),
               ({"presence_penalty": 3}, "presence_penalty"),
               ({"logit_bias": {"x": 1}}, "logit_bias"),
               ({"logit_bias": {"1": 101}}, "logit_bias"),
               ({"logit_bias": {"999999": 1}}, "logit_bias"),
               ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
               ({"stop": [""]}, "stop"),
               ({"audio": {"voice": "x"}}, "audio"),
               ({"temperature": 7}, "temperature"),
               ({"stream": "yes"}, "stream")]
    for extra, param in refused:
        status, text = server.post(dict(messages=user("hi"), **extra))
        e = error_of(text)
        check(status == 400 and e["param"] == param and e["type"] == "invalid_request_error",
              "400 naming %s for %s: %s" % (param, json.dumps(extra), e["message"]))
    history = [{"role": "user", "content": "weather?"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "c1", "type": "function",
                    "function": {"name": "weather", "arguments": "{}"}}]},
               {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
               {"role": "user", "content": "so?"}]
    status, text = server.post({"messages": history})
    e = error_of(text)
    check(status == 400 and "tools are not supported" in e["message"] and
          e["param"] == "messages",
          "a history with tool calls gets 400 saying tools are not supported: " + e["message"])


def errors(server):
    bad = [(b"{not json", "not valid JSON", None),
           ({"model": "tiny"}, "\"messages\" must be an array", "messages"),
           ({"messages": [{"role": "assistant", "content": "hi"}]}, "must answer", "messages"),
           ({"messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "s"}]},
            "must come first", "messages"),
           ({"messages": user([{"type": "image_url",
                                 "image_url": {"url": "https://example.com/a.jpg"}}])},
            "only data: image URLs", "messages"),
           ({"messages": user([{"type": "image_url",
                                 "image_url": {"url": "data:image/png;base64,AAAA"}}])},
            "not an image", "messages"),
           ({"messages": user([{"type": "image_url",
                                 "image_url": {"url": "data:image/png;base64,AAAA"}},
                                {"type": "video_url",
                                 "video_url": {"url": "data:video/mp4;base64,AAAA"}}])},
            "images or one video, not both", "messages"),
           ({"messages": user([{"type": "video_url",
                                 "video_url": {"url": "data:video/mp4;base64,AAAA"}}])},
            "the video:", "messages")]
    for body, reason, param in bad:
        status, text = server.post(body)
        e = error_of(text)
        check(status == 400 and reason in e["message"] and e["param"] == param and
              "ivl-serve-video" not in e["message"] and "/tmp" not in e["message"],
              "400 with the reason, param %s, no file names: %s" % (param, e["message"]))
        if isinstance(body, dict) and "messages" in body:
            status, text = server.post(dict(body, stream=True))
            check(status == 400 and reason in error_of(text)["message"],
                  "the same request streamed gets the same 400, before any event")
    status, text = server.post(b"")
    check(status == 400 and error_of(text)["type"] == "invalid_request_error",
          "400 for an empty body")
    status, _, text = server.request("GET", "/v1/chat/completions")
    check(status == 405 and error_of(text)["message"] == "use POST",
          "405 for GET /v1/chat/completions")
    status, _, text = server.request("GET", "/v2/nothing")
    check(status == 404 and error_of(text)["type"] == "not_found_error", "404 for no route")


def routes(server):
    status, headers, text = server.request("GET", "/v1/models")
    check(status == 200 and json.loads(text)["data"][0]["id"] == "tiny",
          "/v1/models lists the served model")
    check(headers["Server"] == "ivl", "the Server header names no library version: "
          + headers["Server"])
    status, _, text = server.request("GET", "/v1/models/tiny")
    m = json.loads(text)
    check(status == 200 and m == {"id": "tiny", "object": "model", "created": 0,
                                  "owned_by": "ivl"}, "GET /v1/models/tiny: the model")
    status, _, text = server.request("GET", "/v1/models/gpt-4o")
    e = error_of(text)
    check(status == 404 and e["code"] == "model_not_found" and e["param"] == "model",
          "GET /v1/models/gpt-4o: 404 model_not_found")
    status, text = server.post({"model": "gpt-4o", "messages": user("hi")})
    e = error_of(text)
    check(status == 404 and e["code"] == "model_not_found" and "tiny" in e["message"],
          "a chat request for another model: 404 model_not_found naming the served one")
    check(server.chat(user("hi"), model="tiny", max_tokens=2)["model"] == "tiny",
          "a request naming the served model is answered")

    status, text = server.post({"model": "tiny", "prompt": "Once upon a time", "max_tokens": 8},
                               "/v1/completions")
    whole = json.loads(text)
    choice = whole["choices"][0]
    prompt_ids = json.loads(subprocess.run([IVL, "tokenize", "-m", SERVED_MODEL,
                                            "Once upon a time"], capture_output=True,
                                           text=True, check=True).stdout)
    check(status == 200 and whole["object"] == "text_completion" and
          choice["finish_reason"] == "length" and whole["usage"]["completion_tokens"] == 8 and
          whole["usage"]["prompt_tokens"] == len(prompt_ids),
          "/v1/completions continues the plain prompt (%d tokens, no template): %r"
          % (len(prompt_ids), choice["text"]))
    events = server.stream(None, "/v1/completions", prompt="Once upon a time", max_tokens=8)
    text, chunks = streamed_text(events, "text")
    check(events[-1] == "[DONE]" and text == choice["text"] and
          chunks[-1]["choices"][0]["finish_reason"] == "length",
          "a streamed completion gives the same text and finish reason")
    stop = choice["text"][2:5]
    got = json.loads(server.post({"prompt": "Once upon a time", "max_tokens": 8, "stop": stop},
                                 "/v1/completions")[1])["choices"][0]
    check(got["text"] == choice["text"][:choice["text"].index(stop)].rstrip() and
          got["finish_reason"] == "stop", "completions honour stop too")
    for body, param in (({"prompt": ["a", "b"]}, "prompt"), ({"prompt": "a", "echo": True}, "echo"),
                        ({"prompt": "a", "logprobs": 2}, "logprobs"),
                        ({"prompt": "a", "best_of": 2}, "best_of")):
        status, text = server.post(body, "/v1/completions")
        check(status == 400 and error_of(text)["param"] == param,
              "/v1/completions refuses %s with a 400 naming it" % param)


def small_context(model):
    """finish_reason length when the context runs out; prompts that cannot fit refused first."""
    server = Server(model, "--context", "96")
    got = server.chat(user("Hi"), max_tokens=500)
    check(got["choices"][0]["finish_reason"] == "length" and
          got["usage"]["prompt_tokens"] + got["usage"]["completion_tokens"] >= 95,
          "finish_reason length when the context runs out (%d + %d tokens)"
          % (got["usage"]["prompt_tokens"], got["usage"]["completion_tokens"]))
    _, chunks = streamed_text(server.stream(user("Hi"), max_tokens=500))
    check(chunks[-1]["choices"][0]["finish_reason"] == "length",
          "streamed, finish_reason length when the context runs out")
    content = [{"type": "image_url", "image_url": {"url": image_url()}},
               {"type": "text", "text": "Describe it."}]
    for stream in (False, True):
        status, text = server.post({"messages": user(content), "stream": stream})
        e = error_of(text)
        check(status == 400 and e["code"] == "context_length_exceeded" and
              "context holds 96" in e["message"],
              "an image over the context: 400 context_length_exceeded%s: %s"
              % (" (streamed)" if stream else "", e["message"]))
    status, text = server.post({"messages": user("word " * 200)})
    e = error_of(text)
    check(status == 400 and e["code"] == "context_length_exceeded" and "tokens" in e["message"],
          "a text prompt over the context: 400 context_length_exceeded: " + e["message"])
    server.stop()


def hang_ups(server):
    # A client that hangs up after the first pieces of a long answer cancels it: the next
    # request is answered at once instead of after thousands of tokens.
    fds = server.fds()
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    conn.request("POST", "/v1/chat/completions",
                 json.dumps({"messages": user(Q), "stream": True, "max_tokens": 8000}),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    check(resp.status == 200 and resp.read1(64), "a long stream starts")
    resp.close()  # the response owns the socket of a "Connection: close" answer
    conn.close()
    t0 = time.time()
    server.chat(user(Q), max_tokens=4)
    check(time.time() - t0 < 5, "the hung-up stream stopped (next answer in %.1f s)"
          % (time.time() - t0))
    # the same for a client waiting for the whole answer, which is written nothing meanwhile
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    conn.request("POST", "/v1/chat/completions",
                 json.dumps({"messages": user(Q), "max_tokens": 8000}),
                 {"Content-Type": "application/json"})
    time.sleep(0.5)
    conn.close()
    t0 = time.time()
    server.chat(user(Q), max_tokens=4)
    check(time.time() - t0 < 5, "the abandoned whole answer stopped (next answer in %.1f s)"
          % (time.time() - t0))
    time.sleep(0.5)
    now = server.fds()
    check(now <= fds + 1, "connections are closed, not leaked (%d open files, %d at the start)"
          % (now, fds))


def other_kinds():
    """A 9B-style model (InternLM2 layout, SentencePiece tokenizer with a BOS and added
    tokens beyond its pieces), an -hf repo (renamed split weights, tokenizer.json, its own
    template) and a 9B-hf one (Llama names, LlamaConverter's tokenizer.json) answer as ivl
    run does, streamed and whole, about an image too."""
    tiny9b = os.path.join(os.path.dirname(SERVED_MODEL), "tiny9b")
    subprocess.run([IVL, "make-tiny-model", "--llm-layout", "internlm2", "--vocab", "3009",
                    "--seed", "9", "--tokenizer", os.path.join(DATA, "tokenizer",
                                                               "internlm3-tiny"), tiny9b],
                   check=True, capture_output=True)
    tinyhf = os.path.join(os.path.dirname(SERVED_MODEL), "tinyhf")
    subprocess.run([IVL, "make-tiny-model", "--layout", "hf", "--seed", "5", "--tokenizer",
                    os.path.join(DATA, "tokenizer", "qwen2.5"), tinyhf],
                   check=True, capture_output=True)
    tiny9bhf = os.path.join(os.path.dirname(SERVED_MODEL), "tiny9bhf")
    subprocess.run([IVL, "make-tiny-model", "--llm-layout", "internlm2", "--vocab", "3009",
                    "--seed", "9", "--layout", "hf", "--tokenizer",
                    os.path.join(DATA, "tokenizer", "internlm3-tiny"), tiny9bhf],
                   check=True, capture_output=True)
    for kind, model in (("9B-style", tiny9b), ("-hf", tinyhf), ("9B-hf", tiny9bhf)):
        server = Server(model)
        whole = server.chat(user(Q), max_tokens=16)["choices"][0]["message"]["content"]
        check(whole == ivl_run(model, "--max-new-tokens", "16", Q),
              kind + ": a text answer equals ivl run's")
        text, _ = streamed_text(server.stream(user(Q), max_tokens=16))
        check(text == whole, kind + ": the streamed pieces make exactly the whole answer")
        content = [{"type": "image_url", "image_url": {"url": image_url()}},
                   {"type": "text", "text": "Describe the image."}]
        check(server.chat(user(content), max_tokens=8)["choices"][0]["message"]["content"] ==
              ivl_run(model, "--max-new-tokens", "8", "--max-num", "2", "--image", IMAGE,
                      "Describe the image."),
              kind + ": an answer about an image equals ivl run --image's")
        server.stop()


SERVED_MODEL = None


def main():
    global SERVED_MODEL
    model = SERVED_MODEL = tiny_model()
    server = Server(model)
    check(server.base.startswith("http://127.0.0.1:"), "the address on stdout: " + server.base)
    content, with_image = answers_as_ivl_run(server, model)
    continues_conversations(server, content, with_image)
    stops(server)
    parameters(server, model)
    errors(server)
    routes(server)
    hang_ups(server)
    small_context(model)
    other_kinds()
    server.proc.send_signal(signal.SIGTERM)
    check(server.proc.wait(timeout=30) == 0, "SIGTERM ends the server with status 0")


if __name__ == "__main__":
    run_main(main)
